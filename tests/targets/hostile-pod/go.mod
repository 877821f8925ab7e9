module kprofefe/tests/targets/hostile-pod

go 1.24
