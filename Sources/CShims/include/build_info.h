#ifndef KVMBUILD_BUILD_INFO_H
#define KVMBUILD_BUILD_INFO_H

/// The git commit this binary was built from, or "dev".
const char *kvmbuild_git_sha(void);

#endif
