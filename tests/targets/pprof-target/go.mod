// A tiny Go program with pprof endpoints that stands in for a profiled pod.
module kprofefe/tests/targets/pprof-target

go 1.24
