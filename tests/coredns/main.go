// CoreDNS for the real node's cluster DNS (scripts/cluster-node.sh): CoreDNS's
// own main (coremain.Run) with only the plugins its Corefile uses. Every
// plugin that sends queries elsewhere (forward, grpc, etcd, the clouds' DNS)
// is left out: nothing may leave the machine, so nothing that could is built.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
