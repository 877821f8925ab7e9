module kprofefe/tests/targets/pause

go 1.24.0
