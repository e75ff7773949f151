package clustertest

import (
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestContainerNames: on a node with a bridge (in its own network
// namespace), a container finds another by name: its resolv.conf names
// the node's DNS on the bridge gateway and searches the cluster domain,
// the name answers the other container's bridge address
// (--dns-container-addrs), and a request by name reaches it. The unit's
// state and list-services carry that address.
func TestContainerNames(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	ns := NewNetns(t)
	host := ServeImages(t, ns.HostIP+":0", map[string]v1.Image{"test/busybox:1": BusyboxAll(t)})
	c := New(t, 1, 0)
	c.EnableTLS(ns.HostIP, ns.NsIP)
	node := c.Nodes[0]
	node.Netns, node.Host = ns.Name, ns.NsIP
	node.Extra = []string{"--bridge-subnet", "10.91.0.0/24", "--insecure-registry", host, "--dns-container-addrs", "--dns-domain", "corp"}
	c.StartAll()
	ref := host + "/test/busybox:1"

	c.WriteUnit("web.service", fmt.Sprintf("[Container]\nImage=%s\nExec=httpd -f -p 80 -h /www\n", ref))
	c.MustFleetctl("start", "web.service")
	webIP := vethIP(t, ns.Name, "web.service")
	c.WriteUnit("client.service", fmt.Sprintf("[Container]\nImage=%s\nExec=/bin/sh -c 'cat /etc/resolv.conf; nslookup web.corp; while :; do wget -q -O- http://web/index.html; sleep 0.5; done'\n", ref))
	c.MustFleetctl("start", "client.service")
	log := waitJournal(t, c, "client.service", "hello from flotilla")
	for _, want := range []string{"nameserver 10.91.0.1", "search corp", webIP} {
		if !strings.Contains(log, want) {
			t.Errorf("client's log lacks %q:\n%s", want, log)
		}
	}
	st, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	if s := st["web.service"]; len(s) != 1 || s[0].Addr != webIP {
		t.Errorf("web.service's state: %+v, want addr %s", s, webIP)
	}
	out := c.MustFleetctl("list-services", "--no-legend", "--fields", "service,unit,address,container")
	if want := "web.corp\tweb.service\t" + ns.NsIP + "\t" + webIP; !strings.Contains(out, want) {
		t.Errorf("list-services: %q, want a line %q", out, want)
	}
}
