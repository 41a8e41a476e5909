#include <stdint.h>
#include <guestfs.h>

/* The header's bitmask macros use UINT64_C, which Swift cannot import: restate them as constants. */
static const uint64_t KVMB_ADD_DRIVE_READONLY = GUESTFS_ADD_DRIVE_OPTS_READONLY_BITMASK;
static const uint64_t KVMB_ADD_DRIVE_FORMAT = GUESTFS_ADD_DRIVE_OPTS_FORMAT_BITMASK;
static const uint64_t KVMB_ADD_DRIVE_DISCARD = GUESTFS_ADD_DRIVE_OPTS_DISCARD_BITMASK;
