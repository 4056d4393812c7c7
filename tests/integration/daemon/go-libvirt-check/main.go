// vireocheck: go-libvirt (Debian's golang-github-digitalocean-go-libvirt-dev) against a
// daemon's UNIX socket: connect, hostname, define, look up, list, undefine.
package main

import (
	"fmt"
	"os"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

func main() {
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(os.Args[1]),
		dialers.WithLocalTimeout(10*time.Second)))
	if err := l.Connect(); err != nil {
		fmt.Println("connect:", err)
		os.Exit(1)
	}
	host, err := l.ConnectGetHostname()
	fmt.Println("hostname:", host, err)
	xml := "<domain type='kvm'><name>gocheck</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>" +
		"<os><type arch='x86_64'>hvm</type><kernel>/nonexistent</kernel></os></domain>"
	dom, err := l.DomainDefineXML(xml)
	fmt.Println("define:", dom.Name, err)
	doms, _, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsInactive|libvirt.ConnectListDomainsActive)
	for _, d := range doms {
		fmt.Println("listed:", d.Name)
	}
	if err != nil {
		fmt.Println("list:", err)
	}
	got, err := l.DomainLookupByName("gocheck")
	fmt.Println("lookup:", got.Name, err)
	state, _, err := l.DomainGetState(got, 0)
	fmt.Println("state:", state, err)
	fmt.Println("undefine:", l.DomainUndefine(got))
	fmt.Println("disconnect:", l.Disconnect())
}
