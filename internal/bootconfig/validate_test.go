package bootconfig

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type parseCase struct {
	name string
	doc  string
	// want are substrings of the error, each naming the field; nil means
	// the document is valid.
	want []string
}

const okUnit = "[Unit]\nDescription=web\n\n[Service]\nExecStart=/bin/web\n"

// parseCases covers every rule of Parse and Validate. They are also
// FuzzParse's seeds.
func parseCases(t testing.TB) []parseCase {
	b := testBundle(t)
	tlsDoc := func(ca, cert, key string) string {
		return jsonDoc(t, map[string]any{"tls": map[string]string{"ca": ca, "cert": cert, "key": key}})
	}
	memberTLS := func(cluster map[string]any) string {
		return jsonDoc(t, map[string]any{"hostname": "n1", "cluster": cluster, "tls": map[string]string{"ca": b.CA, "cert": b.Cert, "key": b.Key}})
	}
	// withTLS adds the TLS bundle to a JSON document.
	withTLS := func(doc string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		m["tls"] = map[string]string{"ca": b.CA, "cert": b.Cert, "key": b.Key}
		return jsonDoc(t, m)
	}
	unitsDoc := func(units ...map[string]any) string { return jsonDoc(t, map[string]any{"units": units}) }
	return []parseCase{
		// The document as a whole.
		{"empty object", `{}`, nil},
		{"null fields are defaults", `{"hostname": null, "units": null, "tls": null}`, nil},
		{"empty document", " \n", []string{"the document is empty"}},
		{"not an object", `[1]`, []string{"top level: want an object {...}, got an array at line 1:1"}},
		{"syntax error has line:column", "{\n  \"hostname\": \"a\",\n  \"version\": x\n}", []string{"JSON syntax error at line 3:14"}},
		{"ends early", "{\"hostname\": \"a\"", []string{"the document ends early at line 1:17"}},
		{"trailing data", `{} {}`, []string{"trailing data after the JSON object at line 1:4"}},
		{"invalid UTF-8", "{\"hostname\": \"a\xff\"}", []string{"invalid UTF-8 at line 1:16"}},
		{"too big", `{"hostname": "` + strings.Repeat("a", MaxSize) + `"}`, []string{"more than the 1048576 allowed"}},
		{"unknown field at top", `{"hostnme": "a"}`, []string{`unknown field "hostnme" at top level, line 1:2 (known: version, hostname, network, cluster, metadata, tls, update, units, log_forward, debug_shell); did you mean "hostname"?`}},
		{"unknown field nested", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true, "adresses": []}]}}`, []string{`unknown field "adresses" in network.interfaces[0], line 1:60 (known: name, mac, dhcp, addresses, gateway, mtu); did you mean "addresses"?`}},
		{"field case matters", `{"HostName": "a"}`, []string{`unknown field "HostName" at top level`, `did you mean "hostname"?`}},
		{"field twice", "{\"hostname\": \"a\",\n \"hostname\": \"b\"}", []string{`top level: field "hostname" appears twice, at line 1:2 and at line 2:2`}},
		{"metadata key twice", `{"metadata": {"a": "1", "a": "2"}}`, []string{`metadata: field "a" appears twice`}},
		{"wrong type", `{"network": {"interfaces": [{"name": 5, "dhcp": "yes"}]}}`, []string{
			"network.interfaces[0].name: want a string, got the number 5 at line 1:38",
			`network.interfaces[0].dhcp: want true or false, got the string "yes"`}},
		{"not a whole number", `{"version": 1.0}`, []string{"version: 1.0 at line 1:13 is not a whole number"}},
		{"huge number", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true, "mtu": 99999999999999999999}]}}`, []string{"network.interfaces[0].mtu: 99999999999999999999"}},
		{"unknown fields do not hide other problems", `{"hostnme": "a", "version": 3}`, []string{`unknown field "hostnme"`, "version: 3 is not a version"}},

		// version, hostname.
		{"version 1", `{"version": 1}`, nil},
		{"version 2", `{"version": 2}`, []string{"version: 2 is not a version this Flotilla reads: use 1"}},
		{"hostname ok", `{"hostname": "node-1.dc1.example"}`, nil},
		{"hostname dash", `{"hostname": "-node"}`, []string{`hostname: "-node" has a label starting or ending with '-'`}},
		{"hostname empty label", `{"hostname": "a..b"}`, []string{"hostname: \"a..b\" has an empty label"}},
		{"hostname underscore", `{"hostname": "node_1"}`, []string{"hostname: \"node_1\" may only contain letters, digits, '-' and '.'"}},
		{"hostname label too long", `{"hostname": "` + strings.Repeat("a", 64) + `"}`, []string{"hostname: ", "has a label longer than 63 bytes"}},
		{"hostname label 63", `{"hostname": "` + strings.Repeat("a", 63) + `"}`, nil},
		{"hostname too long", `{"hostname": "` + strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("a", 62) + `"}`, []string{"hostname: ", "is longer than 253 bytes"}},

		// network.
		{"dhcp by name", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true, "mtu": 1500}]}}`, nil},
		{"static by mac", `{"network": {"interfaces": [{"mac": "52:54:00:12:34:56", "addresses": ["10.77.0.1/24", "fd00::1/64"], "gateway": "10.77.0.254"}], "dns": ["10.77.0.254", "2001:db8::53"]}}`, nil},
		{"ipv6 gateway", `{"network": {"interfaces": [{"name": "eth0", "addresses": ["fd00::1/64"], "gateway": "fd00::fffe"}]}}`, nil},
		{"no name or mac", `{"network": {"interfaces": [{"dhcp": true}]}}`, []string{"network.interfaces[0]: give the link's name"}},
		{"name and mac", `{"network": {"interfaces": [{"name": "eth0", "mac": "52:54:00:12:34:56", "dhcp": true}]}}`, []string{"network.interfaces[0]: give name or mac, not both"}},
		{"bad mac", `{"network": {"interfaces": [{"mac": "52:54:00:12:34", "dhcp": true}]}}`, []string{`network.interfaces[0].mac: "52:54:00:12:34" is not an ethernet MAC address`}},
		{"eui-64 mac", `{"network": {"interfaces": [{"mac": "02:00:00:00:00:00:00:01", "dhcp": true}]}}`, []string{`network.interfaces[0].mac: "02:00:00:00:00:00:00:01" is not an ethernet MAC`}},
		{"bad link name", `{"network": {"interfaces": [{"name": "eth0/1", "dhcp": true}]}}`, []string{`network.interfaces[0].name: "eth0/1" may not contain '/'`}},
		{"long link name", `{"network": {"interfaces": [{"name": "abcdefghijklmnop", "dhcp": true}]}}`, []string{`network.interfaces[0].name: "abcdefghijklmnop" is longer than 15 bytes`}},
		{"dhcp and addresses", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true, "addresses": ["10.0.0.1/24"]}]}}`, []string{"network.interfaces[0]: dhcp and addresses exclude each other"}},
		{"neither dhcp nor addresses", `{"network": {"interfaces": [{"name": "eth0"}]}}`, []string{"network.interfaces[0]: say how to address the link"}},
		{"not a CIDR", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true}, {"name": "eth1", "addresses": ["10.77.0.2/24", "10.0.0.1"]}]}}`, []string{`network.interfaces[1].addresses[1]: "10.0.0.1" is not a CIDR address (want e.g. 10.77.0.1/24)`}},
		{"gateway outside", `{"network": {"interfaces": [{"name": "eth0", "addresses": ["10.77.0.1/24"], "gateway": "10.78.0.1"}]}}`, []string{"network.interfaces[0].gateway: 10.78.0.1 is outside every subnet of addresses (10.77.0.1/24)"}},
		{"gateway not an IP", `{"network": {"interfaces": [{"name": "eth0", "addresses": ["10.77.0.1/24"], "gateway": "router"}]}}`, []string{`network.interfaces[0].gateway: "router" is not an IP address`}},
		{"gateway with dhcp", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true, "gateway": "10.0.0.1"}]}}`, []string{"network.interfaces[0].gateway: DHCP provides the gateway"}},
		{"two ipv4 gateways", `{"network": {"interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"], "gateway": "10.0.0.1"}, {"name": "eth1", "addresses": ["10.1.0.2/24"], "gateway": "10.1.0.1"}]}}`, []string{"network.interfaces[1].gateway: network.interfaces[0] already has the default route"}},
		{"mtu low", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true, "mtu": 575}]}}`, []string{"network.interfaces[0].mtu: 575 is out of range: want 576 to 9000"}},
		{"mtu high", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true, "mtu": 9001}]}}`, []string{"network.interfaces[0].mtu: 9001 is out of range"}},
		{"mtu bounds", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true, "mtu": 576}, {"name": "eth1", "dhcp": true, "mtu": 9000}]}}`, nil},
		{"link twice", `{"network": {"interfaces": [{"name": "eth0", "dhcp": true}, {"name": "eth0", "dhcp": true}]}}`, []string{`network.interfaces[1].name: "eth0" is also network.interfaces[0]`}},
		{"mac twice", `{"network": {"interfaces": [{"mac": "52:54:00:12:34:56", "dhcp": true}, {"mac": "52-54-00-12-34-56", "dhcp": true}]}}`, []string{`network.interfaces[1].mac: "52-54-00-12-34-56" is also network.interfaces[0]`}},
		{"dns name", `{"network": {"dns": ["1.1.1.1", "dns.example"]}}`, []string{`network.dns[1]: "dns.example" is not an IP address`}},

		// cluster.
		{"member of one", `{"cluster": {"role": "member"}}`, nil},
		{"bad role", `{"cluster": {"role": "leader"}}`, []string{`cluster.role: "leader" is not a role`}},
		{"cluster network", `{"cluster": {"network": {"cidr": "10.100.0.0/20", "subnet_len": 26, "backend": "host-gw"}}}`, nil},
		{"cluster network bad", `{"cluster": {"network": {"cidr": "10.100.0.1/20", "subnet_len": 30, "backend": "udp"}}}`, []string{`cluster.network.cidr: "10.100.0.1/20" has host bits set: did you mean 10.100.0.0/20?`, "cluster.network.subnet_len: 30: want more than the CIDR's /16", `cluster.network.backend: "udp" is not a backend`}},
		{"cluster network too small", `{"cluster": {"network": {"cidr": "10.100.0.0/24"}}}`, []string{"cluster.network.subnet_len: the default 24 does not split a /24"}},
		{"three members by hostname", withTLS(`{"hostname": "n1", "cluster": {"peer_url": "https://10.77.0.1:2380", "client_url": "https://10.77.0.1:2379", "initial_cluster": "n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380,n3=https://10.77.0.3:2380"}}`), nil},
		{"three members by name", withTLS(`{"hostname": "web-1", "cluster": {"name": "n2", "peer_url": "https://10.77.0.2:2380", "client_url": "https://10.77.0.2:2379", "initial_cluster": "n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380"}}`), nil},
		{"member needs urls", withTLS(`{"hostname": "n1", "cluster": {"initial_cluster": "n1=https://10.77.0.1:2380"}}`), []string{"cluster.peer_url: a member of a named cluster needs its peer URL", "cluster.client_url: a member of a named cluster needs its client URL"}},
		{"peer url without client url", withTLS(`{"cluster": {"peer_url": "https://10.77.0.1:2380"}}`), []string{"cluster.client_url: a member of a named cluster needs its client URL"}},
		{"url scheme", withTLS(`{"cluster": {"peer_url": "ftp://10.77.0.1:2380", "client_url": "https://10.77.0.1:2379"}}`), []string{`cluster.peer_url: "ftp://10.77.0.1:2380" must start with http:// or https://`}},
		{"url port", withTLS(`{"cluster": {"peer_url": "https://10.77.0.1", "client_url": "https://10.77.0.1:2379"}}`), []string{`cluster.peer_url: "https://10.77.0.1" has no port`}},
		{"url path", withTLS(`{"cluster": {"peer_url": "https://10.77.0.1:2380/x", "client_url": "https://10.77.0.1:2379"}}`), []string{`cluster.peer_url: "https://10.77.0.1:2380/x" may only have a scheme, a host and a port`}},
		{"url host", withTLS(`{"cluster": {"peer_url": "https://:2380", "client_url": "https://10.77.0.1:2379"}}`), []string{`cluster.peer_url: "https://:2380" has no host`}},
		{"initial cluster without me", withTLS(`{"hostname": "n4", "cluster": {"peer_url": "https://10.77.0.4:2380", "client_url": "https://10.77.0.4:2379", "initial_cluster": "n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380"}}`), []string{`cluster.initial_cluster: does not name this member "n4" (cluster.name, else hostname); it names n1, n2`}},
		{"initial cluster other peer url", withTLS(`{"hostname": "n1", "cluster": {"peer_url": "https://10.77.0.9:2380", "client_url": "https://10.77.0.1:2379", "initial_cluster": "n1=https://10.77.0.1:2380"}}`), []string{`cluster.initial_cluster: gives "n1" the peer URL https://10.77.0.1:2380, but cluster.peer_url is https://10.77.0.9:2380`}},
		{"initial cluster entry", withTLS(`{"hostname": "n1", "cluster": {"peer_url": "https://10.77.0.1:2380", "client_url": "https://10.77.0.1:2379", "initial_cluster": "n1=https://10.77.0.1:2380,n2"}}`), []string{`cluster.initial_cluster: entry "n2" is not name=peer-url`}},
		{"initial cluster url", withTLS(`{"hostname": "n1", "cluster": {"peer_url": "https://10.77.0.1:2380", "client_url": "https://10.77.0.1:2379", "initial_cluster": "n1=https://10.77.0.1:2380,n2=10.77.0.2:2380"}}`), []string{`cluster.initial_cluster: "10.77.0.2:2380" must start with http:// or https://`}},
		{"initial cluster nameless", withTLS(`{"cluster": {"peer_url": "https://10.77.0.1:2380", "client_url": "https://10.77.0.1:2379", "initial_cluster": "n1=https://10.77.0.1:2380"}}`), []string{"cluster.name: initial_cluster must name this member, but neither cluster.name nor hostname is set"}},
		{"member name comma", `{"cluster": {"name": "a,b"}}`, []string{`cluster.name: "a,b" may not contain ','`}},
		{"client", withTLS(`{"cluster": {"role": "client", "endpoints": ["https://10.77.0.1:2379", "https://10.77.0.2:2379"]}}`), nil},
		{"client without endpoints", `{"cluster": {"role": "client"}}`, []string{"cluster.endpoints: a client needs at least one etcd client URL"}},
		{"client with member fields", withTLS(`{"cluster": {"role": "client", "endpoints": ["https://10.77.0.1:2379"], "peer_url": "https://10.77.0.9:2380", "initial_cluster": "a=https://10.77.0.1:2380"}}`), []string{`cluster.peer_url: only a member has peer_url`, `cluster.initial_cluster: only a member has initial_cluster`}},
		{"client bad endpoint", withTLS(`{"cluster": {"role": "client", "endpoints": ["10.77.0.1:2379"]}}`), []string{`cluster.endpoints[0]: "10.77.0.1:2379" must start with http:// or https://`}},
		{"member with endpoints", withTLS(`{"cluster": {"endpoints": ["https://10.77.0.1:2379"]}}`), []string{`cluster.endpoints: only a client uses endpoints: set role to "client"`}},
		{"https needs tls", `{"cluster": {"role": "client", "endpoints": ["https://10.77.0.1:2379"]}}`, []string{"cluster: https URLs need the TLS bundle"}},
		{"https in initial cluster needs tls", `{"hostname": "n1", "cluster": {"peer_url": "https://10.77.0.1:2380", "client_url": "https://10.77.0.1:2379", "initial_cluster": "n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380"}}`, []string{"cluster: https URLs need the TLS bundle"}},
		{"member urls need tls", `{"cluster": {"peer_url": "https://127.0.0.1:2380", "client_url": "https://127.0.0.1:2379"}}`, []string{"cluster: https URLs need the TLS bundle", "a one-node member without tls sets no URLs"}},
		// Plaintext etcd is refused everywhere, loopback and TLS included (issue 17).
		{"plaintext peer url on loopback", `{"cluster": {"peer_url": "http://127.0.0.1:2380", "client_url": "https://127.0.0.1:2379"}}`, []string{`cluster.peer_url: "http://127.0.0.1:2380" is plaintext: etcd must use mutual TLS, loopback included`, "use https:// and set tls"}},
		{"plaintext client url with tls", withTLS(`{"cluster": {"peer_url": "https://10.99.0.1:12380", "client_url": "http://10.99.0.1:12379"}}`), []string{`cluster.client_url: "http://10.99.0.1:12379" is plaintext`}},
		{"plaintext endpoint", withTLS(`{"cluster": {"role": "client", "endpoints": ["https://10.77.0.1:2379", "http://10.77.0.2:2379"]}}`), []string{`cluster.endpoints[1]: "http://10.77.0.2:2379" is plaintext`}},
		{"plaintext initial cluster", withTLS(`{"hostname": "n1", "cluster": {"peer_url": "https://10.77.0.1:2380", "client_url": "https://10.77.0.1:2379", "initial_cluster": "n1=https://10.77.0.1:2380,n2=http://10.77.0.2:2380"}}`), []string{`cluster.initial_cluster: "http://10.77.0.2:2380" is plaintext`}},
		{"lone member without tls", `{"cluster": {"role": "member"}, "hostname": "n1"}`, nil},
		{"https member with tls", memberTLS(map[string]any{"peer_url": "https://10.77.0.1:2380", "client_url": "https://10.77.0.1:2379", "initial_cluster": "n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380,n3=https://10.77.0.3:2380"}), nil},

		// metadata.
		{"metadata", `{"metadata": {"region": "eu-west", "disk": "ssd"}}`, nil},
		{"metadata empty key", `{"metadata": {"": "x"}}`, []string{`metadata[""]: empty key`}},
		{"metadata empty value", `{"metadata": {"rack": ""}}`, []string{`metadata["rack"]: empty value`}},
		{"metadata comma", `{"metadata": {"a,b": "x"}}`, []string{`metadata["a,b"]: key may not contain ','`}},
		{"metadata equals", `{"metadata": {"a": "x=y"}}`, []string{`metadata["a"]: value "x=y" may not contain ',', '='`}},
		{"metadata space", `{"metadata": {"a": "x y"}}`, []string{`metadata["a"]: value "x y" may not contain`}},

		// tls.
		{"tls", tlsDoc(b.CA, b.Cert, b.Key), nil},
		{"tls missing", tlsDoc("", "", ""), []string{"tls.ca: missing", "tls.cert: missing", "tls.key: missing"}},
		{"tls not pem", tlsDoc("ca", "cert", "key"), []string{"tls.ca: has no PEM CERTIFICATE block", "tls.cert: has no PEM CERTIFICATE block", "tls.key: has no PEM private key block"}},
		{"tls key as ca", tlsDoc(b.Key, b.Cert, b.Key), []string{`tls.ca: has a "EC PRIVATE KEY" PEM block`}},
		{"tls bad certificate", tlsDoc(b.CA, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b.Key), []string{"tls.cert: certificate 1 does not parse"}},
		{"tls other key", tlsDoc(b.CA, b.Cert, b.OtherKey), []string{"tls.key: does not go with tls.cert: private key does not match public key"}},
		{"tls other ca", tlsDoc(b.OtherCA, b.Cert, b.Key), []string{"tls.cert: is not signed by tls.ca"}},
		{"tls chain of other ca", tlsDoc(b.CA, b.OtherCert, b.OtherKey), []string{"tls.cert: is not signed by tls.ca"}},

		// update.
		{"update", `{"update": {"url": "https://updates.example.com/flotilla", "public_key": "` + key32 + `", "interval": "30m", "channel": "beta-2"}}`, nil},
		{"update missing", `{"update": {}}`, []string{"update.url: missing", "update.public_key: missing"}},
		{"update url scheme", `{"update": {"url": "ftp://x/y", "public_key": "` + key32 + `"}}`, []string{`update.url: "ftp://x/y" is not an http or https URL`}},
		{"update url host", `{"update": {"url": "http:///y", "public_key": "` + key32 + `"}}`, []string{`update.url: "http:///y" is not an http or https URL with a host`}},
		{"update key not base64", `{"update": {"url": "http://u", "public_key": "not base64!"}}`, []string{"update.public_key: is not base64"}},
		{"update key 31 bytes", `{"update": {"url": "http://u", "public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}}`, []string{"update.public_key: is not base64 (standard, padded) of 32 bytes"}},
		{"update interval short", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "interval": "500ms"}}`, []string{`update.interval: "500ms" is not a Go duration of at least 1s`}},
		{"update interval words", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "interval": "hourly"}}`, []string{`update.interval: "hourly" is not a Go duration`}},
		{"update channel", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "channel": "Stable"}}`, []string{`update.channel: "Stable" may only contain a-z, 0-9 and '-'`}},
		{"update reboot window", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "Thu 04:00", "length": "1h"}}}`, nil},
		{"update reboot window daily", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "23:30", "length": "90m"}}}`, nil},
		{"update reboot window full day name", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "sunday 22:00", "length": "168h"}}}`, nil},
		{"update reboot window null", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": null}}`, nil},
		{"update reboot window empty", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {}}}`, []string{"update.reboot_window.start: missing: say when the window opens", "update.reboot_window.length: missing: say how long"}},
		{"update reboot window bad start", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "Thu 4am", "length": "1h"}}}`, []string{`update.reboot_window.start: "Thu 4am" is not a time of day (want "HH:MM" for every day or "Day HH:MM" for one day a week, 24-hour UTC, e.g. "Thu 04:00" or "04:00")`}},
		{"update reboot window bad day", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "Thr 04:00", "length": "1h"}}}`, []string{`update.reboot_window.start: "Thr 04:00" does not start with a day of the week`}},
		{"update reboot window too long", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "Thu 04:00", "length": "8d"}}}`, []string{`update.reboot_window.length: "8d" is not a Go duration`}},
		{"update reboot window over a week", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "Thu 04:00", "length": "169h"}}}`, []string{`update.reboot_window.length: "169h" is longer than a week (168h)`}},
		{"update reboot window zero", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "04:00", "length": "0s"}}}`, []string{`update.reboot_window.length: "0s" is not above zero`}},
		{"update reboot window unknown field", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": {"start": "04:00", "length": "1h", "end": "05:00"}}}`, []string{`unknown field "end" in update.reboot_window`}},
		{"update reboot window wrong type", `{"update": {"url": "http://u", "public_key": "` + key32 + `", "reboot_window": "Thu 04:00"}}`, []string{"update.reboot_window: want an object"}},

		// units.
		{"units", unitsDoc(map[string]any{"name": "web.service", "contents": okUnit}, map[string]any{"name": "web@.service", "contents": okUnit, "start": false}, map[string]any{"name": "web@1.service", "contents": okUnit}), nil},
		{"unit bad name", unitsDoc(map[string]any{"name": "web", "contents": okUnit}), []string{"units[0].name: unit web: name: unit name must end in a unit type"}},
		{"unit bad contents", unitsDoc(map[string]any{"name": "web.service", "contents": "ExecStart=/bin/web\n"}), []string{`units[0].contents: unit web.service: unit file has no options`}},
		{"unit bad x-fleet", unitsDoc(map[string]any{"name": "web.service", "contents": okUnit + "[X-Fleet]\nGlobal=true\nMachineID=abc\n"}), []string{"units[0].contents: unit web.service: [X-Fleet]"}},
		{"unit empty contents", unitsDoc(map[string]any{"name": "web.service"}), []string{"units[0].contents: missing"}},
		{"unit twice", unitsDoc(map[string]any{"name": "web.service", "contents": okUnit}, map[string]any{"name": "web.service", "contents": okUnit}), []string{`units[1].name: "web.service" is also units[0]`}},
		{"unit template started", unitsDoc(map[string]any{"name": "web@.service", "contents": okUnit}), []string{"units[0].start: web@.service is a template, which cannot be started", "web@1.service"}},

		// log_forward.
		{"log forward", `{"log_forward": [{"url": "syslog+udp://10.0.0.5"}, {"url": "json+tcp://logs.example:5170?buffer=256k"}, {"url": "syslog+tls://logs.example", "ca": ` + jsonString(b.CA) + `}]}`, nil},
		{"log forward bad url", `{"log_forward": [{"url": "syslog://10.0.0.5"}]}`, []string{`log_forward[0].url: log forward destination "syslog://10.0.0.5": unknown protocol "syslog"`}},
		{"log forward no url", `{"log_forward": [{}]}`, []string{`log_forward[0].url: log forward destination "": unknown protocol`}},
		{"log forward twice", `{"log_forward": [{"url": "syslog+udp://h"}, {"url": "syslog+udp://h:514"}]}`, []string{"log_forward[1].url: syslog+udp://h:514 is also log_forward[0]"}},
		{"log forward ca not tls", `{"log_forward": [{"url": "syslog+tcp://h", "ca": ` + jsonString(b.CA) + `}]}`, []string{"log_forward[0].ca: is only for syslog+tls"}},
		{"log forward ca twice", `{"log_forward": [{"url": "syslog+tls://h?ca=/var/ca.pem", "ca": ` + jsonString(b.CA) + `}]}`, []string{"log_forward[0].ca: and ca= in the URL"}},
		{"log forward ca not pem", `{"log_forward": [{"url": "syslog+tls://h", "ca": "abc"}]}`, []string{"log_forward[0].ca: has no PEM CERTIFICATE block"}},
		{"log forward too many", `{"log_forward": [` + strings.Repeat(`{"url": "syslog+udp://h"},`, 8) + `{"url": "syslog+udp://h"}]}`, []string{"log_forward: has 9 destinations: at most 8"}},
		{"log forward unknown field", `{"log_forward": [{"url": "syslog+udp://h", "level": "info"}]}`, []string{`unknown field "level" in log_forward[0]`}},
	}
}

// key32 is base64 of 32 zero bytes.
const key32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func TestParse(t *testing.T) {
	const source = "flotilla/config.json"
	for _, c := range parseCases(t) {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.doc), source)
			if c.want == nil {
				if err != nil {
					t.Fatalf("want no error, got:\n%v", err)
				}
				if cfg == nil {
					t.Fatal("nil config without an error")
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error with %q, got none", c.want)
			}
			if cfg != nil {
				t.Error("a config along with an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, source+": ") {
					t.Errorf("error line does not start with the source: %q", line)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			var e *Error
			if !errors.As(err, &e) || e.Source != source {
				t.Errorf("errors.As finds no *Error from %s in %#v", source, err)
			}
		})
	}
}

// TestValidateAll checks that Validate reports every problem, one *Error
// each, naming its field, without a source.
func TestValidateAll(t *testing.T) {
	cfg := &Config{
		Version:  7,
		Hostname: "bad_host",
		Network:  Network{Interfaces: []Interface{{Name: "eth0", Addresses: []string{"10.0.0.1"}}}, DNS: []string{"x"}},
		Cluster:  Cluster{Role: "client"},
		Metadata: map[string]string{"k": ""},
		TLS:      &TLS{},
		Update:   &Update{URL: "x", RebootWindow: &RebootWindow{Start: "x"}},
		Units:    []Unit{{Name: "x"}},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var be *Error
		if !errors.As(e, &be) {
			t.Fatalf("%v is not *Error", e)
		}
		if be.Source != "" || !strings.HasPrefix(be.Error(), be.Field+": ") {
			t.Errorf("bad error %#v", be)
		}
		fields = append(fields, be.Field)
	}
	want := []string{"version", "hostname", "network.interfaces[0].addresses[0]", "network.dns[0]",
		"cluster.endpoints", `metadata["k"]`, "tls.ca", "tls.cert", "tls.key",
		"update.url", "update.public_key", "update.reboot_window.start", "update.reboot_window.length",
		"units[0].name", "units[0].contents"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("fields in error order:\n got %q\nwant %q\n%v", fields, want, err)
	}
	if (&Config{}).Validate() != nil {
		t.Error("the empty config is invalid")
	}
}

func TestDefaults(t *testing.T) {
	f := false
	tr := true
	for _, c := range []struct {
		cfg      Config
		member   string
		isMember bool
		interval string
		channel  string
	}{
		{Config{}, "", true, "1h0m0s", "stable"},
		{Config{Hostname: "h"}, "h", true, "1h0m0s", "stable"},
		{Config{Hostname: "h", Cluster: Cluster{Name: "n", Role: "member"}}, "n", true, "1h0m0s", "stable"},
		{Config{Cluster: Cluster{Role: "client"}, Update: &Update{Interval: "5m", Channel: "beta"}}, "", false, "5m0s", "beta"},
		{Config{Update: &Update{Interval: "junk"}}, "", true, "1h0m0s", "stable"},
	} {
		if got := c.cfg.MemberName(); got != c.member {
			t.Errorf("%+v MemberName = %q, want %q", c.cfg, got, c.member)
		}
		if got := c.cfg.IsMember(); got != c.isMember {
			t.Errorf("%+v IsMember = %v", c.cfg, got)
		}
		if got := c.cfg.UpdateInterval().String(); got != c.interval {
			t.Errorf("%+v UpdateInterval = %s, want %s", c.cfg, got, c.interval)
		}
		if got := c.cfg.UpdateChannel(); got != c.channel {
			t.Errorf("%+v UpdateChannel = %s, want %s", c.cfg, got, c.channel)
		}
	}
	for _, c := range []struct {
		cfg  Config
		want string // "" for nil
	}{
		{Config{}, ""},
		{Config{Update: &Update{}}, ""},
		{Config{Update: &Update{RebootWindow: &RebootWindow{Start: "thu 04:00", Length: "60m"}}}, "Thu 04:00 +1h"},
		{Config{Update: &Update{RebootWindow: &RebootWindow{Start: "02:00", Length: "30m"}}}, "02:00 +30m"},
		{Config{Update: &Update{RebootWindow: &RebootWindow{Start: "Thu", Length: "1h"}}}, ""},
	} {
		got := ""
		if w := c.cfg.RebootWindow(); w != nil {
			got = w.String()
		}
		if got != c.want {
			t.Errorf("%+v RebootWindow = %q, want %q", c.cfg.Update, got, c.want)
		}
	}
	if !(&Unit{}).ShouldStart() || !(&Unit{Start: &tr}).ShouldStart() || (&Unit{Start: &f}).ShouldStart() {
		t.Error("ShouldStart: want true for nil and true, false for false")
	}
	if got := DefaultHostname("0123456789abcdef"); got != "flotilla-01234567" {
		t.Errorf("DefaultHostname = %q", got)
	}
}

// jsonString is s as a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
