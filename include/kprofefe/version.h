/* version: what --version prints: the project version and the git revision built. */
#ifndef KPROFEFE_VERSION_H
#define KPROFEFE_VERSION_H

/* "0.1.0 (git 1a2b3c4d5e6f)": static. */
const char *kprofefe_version(void);

#endif
