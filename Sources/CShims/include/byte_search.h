#ifndef BYTE_SEARCH_H
#define BYTE_SEARCH_H

#include <stddef.h>

/// glibc's memmem (a GNU extension Swift's Glibc module does not export): the first
/// `needle_len`-byte match in `haystack`, or NULL.
const void *kvmb_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

/// SEEK_DATA and SEEK_HOLE (also GNU-only in the headers Swift sees).
int kvmb_seek_data(void);
int kvmb_seek_hole(void);

#endif
