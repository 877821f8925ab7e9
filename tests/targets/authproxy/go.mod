// A TLS reverse proxy with bearer-token and header checks, a test peer standing for profefe's ingress.
module kprofefe/tests/targets/authproxy

go 1.24
