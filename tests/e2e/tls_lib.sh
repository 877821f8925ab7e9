#!/usr/bin/env bash
# Helpers for the tests of https pods (source after lib.sh): throwaway CAs and
# certificates made with openssl, and credential sets laid out as Kubernetes
# mounts a Secret (files behind ..data, swapped by a symlink rename).

# tls_ca DIR NAME: DIR/NAME.crt and DIR/NAME.key, a CA valid for a day.
tls_ca() {
	local dir=$1 name=$2
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj "/CN=kprofefe e2e $name" -keyout "$dir/$name.key" -out "$dir/$name.crt" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		>>"$dir/openssl.log" 2>&1 || fail "making CA $name failed: $(cat "$dir/openssl.log")"
}

# tls_cert DIR NAME CA SAN USAGE: DIR/NAME.crt (and NAME.key, kept when it
# exists) signed by DIR/CA, with subjectAltName SAN ("IP:10.0.0.1",
# "DNS:x.test") and extendedKeyUsage USAGE (serverAuth or clientAuth). CA
# "self" signs it with its own key. The certificate replaces the old one in
# one rename (a server reading it at each handshake never sees half a file).
tls_cert() {
	local dir=$1 name=$2 ca=$3 san=$4 usage=$5
	[[ -f $dir/$name.key ]] || openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-out "$dir/$name.key" >>"$dir/openssl.log" 2>&1 || fail "key $name: $(cat "$dir/openssl.log")"
	printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" "extendedKeyUsage=$usage" >"$dir/$name.ext"
	openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr" \
		>>"$dir/openssl.log" 2>&1 || fail "request $name: $(cat "$dir/openssl.log")"
	if [[ $ca == self ]]; then
		openssl x509 -req -in "$dir/$name.csr" -signkey "$dir/$name.key" -days 1 \
			-extfile "$dir/$name.ext" -out "$dir/$name.crt.new" >>"$dir/openssl.log" 2>&1
	else
		openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" \
			-CAcreateserial -days 1 -extfile "$dir/$name.ext" -out "$dir/$name.crt.new" \
			>>"$dir/openssl.log" 2>&1
	fi || fail "signing $name failed: $(cat "$dir/openssl.log")"
	mv "$dir/$name.crt.new" "$dir/$name.crt"
}

# tls_pod DIR CERT CA NAME POD-ADD-ARGS...: pod NAME (lib.sh's pod_add, with
# POD-ADD-ARGS), annotated profefe.com/scheme "https", whose pprof target serves
# https only with DIR/CERT.crt, signed by DIR/CA for the pod's IP; prints the IP.
# The IP is known once the pod runs, so the certificate is made again then (the
# target reads it at each handshake). KPROFEFE_TARGET_ARGS adds target flags.
tls_pod() {
	local dir=$1 cert=$2 ca=$3 name=$4 ip
	shift 4
	tls_cert "$dir" "$cert" "$ca" "DNS:not-yet.invalid" serverAuth
	ip=$(KPROFEFE_TARGET_ARGS="--tls-cert $dir/$cert.crt --tls-key $dir/$cert.key ${KPROFEFE_TARGET_ARGS:-}" \
		pod_add "$name" --annotate profefe.com/scheme=https "$@")
	tls_cert "$dir" "$cert" "$ca" "IP:$ip" serverAuth
	echo "$ip"
}

# secret_set DIR NAME FILE=SOURCE...: DIR/NAME as the kubelet mounts a Secret:
# each FILE a link to ..data/FILE, ..data a link to a timestamped directory.
# Called again, it swaps ..data to a new directory (an update of the Secret).
secret_set() {
	local dir=$1/$2 gen kv
	shift 2
	gen=..$(date +%s%N)
	mkdir -p "$dir/$gen"
	for kv in "$@"; do
		cp "${kv#*=}" "$dir/$gen/${kv%%=*}"
		[[ -L $dir/${kv%%=*} ]] || ln -s "..data/${kv%%=*}" "$dir/${kv%%=*}"
	done
	ln -sfn "$gen" "$dir/..data_tmp"
	mv -T "$dir/..data_tmp" "$dir/..data"
}
