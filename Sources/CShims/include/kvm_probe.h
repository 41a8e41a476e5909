#ifndef KVM_PROBE_H
#define KVM_PROBE_H

/// Result of asking /dev/kvm for its API version and a VM, without running one.
typedef struct {
    int open_errno;      /* 0 when /dev/kvm opened read-write */
    int api_version;     /* KVM_GET_API_VERSION, -1 on failure */
    int api_errno;
    int create_vm_ok;    /* 1 when KVM_CREATE_VM returned a descriptor */
    int create_vm_errno;
} kvm_probe_result;

kvm_probe_result kvm_probe(const char *device_path);

#endif
