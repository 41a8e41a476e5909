import KVMBuildCommands

// Everything lives in KVMBuildCommands so each verb can be tested without a process.
await Application.run()
