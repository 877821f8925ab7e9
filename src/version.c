/* version: the project version and the git revision the build came from. */
#include "kprofefe/version.h"

const char *kprofefe_version(void)
{
	return KPROFEFE_VERSION " (git " KPROFEFE_GIT_REVISION ")";
}
