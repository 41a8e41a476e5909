#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>
#include "byte_search.h"

const void *kvmb_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}

int kvmb_seek_data(void) { return SEEK_DATA; }
int kvmb_seek_hole(void) { return SEEK_HOLE; }
