#include "kvm_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

kvm_probe_result kvm_probe(const char *device_path) {
    kvm_probe_result r = { 0, -1, 0, 0, 0 };
    int fd = open(device_path, O_RDWR | O_CLOEXEC);
    if (fd < 0) { r.open_errno = errno; return r; }
    r.api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (r.api_version < 0) r.api_errno = errno;
    int vm = ioctl(fd, KVM_CREATE_VM, 0);
    if (vm >= 0) { r.create_vm_ok = 1; close(vm); } else { r.create_vm_errno = errno; }
    close(fd);
    return r;
}
