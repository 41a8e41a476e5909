#include "build_info.h"

// Stamped by scripts/package-deb.sh (KVMBUILD_GIT_SHA in Package.swift's CShims settings): a
// development build, compiled without it, says "dev" rather than a sha it cannot know.
#ifndef KVMBUILD_GIT_SHA
#define KVMBUILD_GIT_SHA "dev"
#endif

const char *kvmbuild_git_sha(void) { return KVMBUILD_GIT_SHA; }
