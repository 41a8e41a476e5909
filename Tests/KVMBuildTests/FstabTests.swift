@testable import Guestfs
import Testing

/// When mounting the root filesystem alone shows the whole tree a seal or a check touches.
@Suite struct FstabTests {
    @Test func cloudImageLayoutNeedsOnlyTheRoot() {
        let fstab = Fstab("""
            # /etc/fstab: static file system information.
            UUID=2f1e0c4b-1111-2222-3333-444455556666 / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1
            UUID=ABCD-1234 /boot/efi vfat defaults 0 0
            /swapfile none swap sw 0 0
            slurm-control:/exports/home /mnt/home nfs defaults,_netdev 0 0
            tmpfs\t/tmp\ttmpfs\tdefaults\t0 0
            """)
        #expect(fstab.entries.count == 5)
        #expect(fstab.entries[1] == Fstab.Entry(device: "UUID=ABCD-1234", mountpoint: "/boot/efi", type: "vfat"))
        #expect(fstab.rootHoldsTheTree)
    }

    @Test func separateLocalFilesystemsNeedInspection() {
        #expect(!Fstab("/dev/sda2 / xfs defaults 0 0\n/dev/sda3 /var xfs defaults 0 0\n").rootHoldsTheTree)
        #expect(!Fstab("/dev/mapper/vg-root / ext4 defaults 0 1\n/dev/mapper/vg-home /home ext4 defaults 0 2\n").rootHoldsTheTree)
    }

    @Test func emptyOrCommentOnlyFstabHasNothingElseMounted() {
        #expect(Fstab("").rootHoldsTheTree)
        #expect(Fstab("# UNCONFIGURED FSTAB FOR BASE SYSTEM\n").entries.isEmpty)
    }
}
