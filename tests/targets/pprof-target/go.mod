// A tiny Go program with pprof endpoints that stands in for a profiled pod.
module kprofefe/tests/targets/pprof-target

go 1.24.0

require github.com/grafana/pyroscope-go/godeltaprof v0.1.10

require github.com/klauspost/compress v1.17.8 // indirect
