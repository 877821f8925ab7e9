// A profefe-API-compatible collector for tests and the demo (see main.go for why).
module kprofefe/tests/profefe

go 1.24

require github.com/google/pprof v0.0.0-20241029153458-d1b30febd7db
