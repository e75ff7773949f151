package bootconfig

// Config is the whole first-boot document. Every field is optional except
// where Validate says otherwise; a node with no config at all boots as a
// one-node cluster with DHCP on every interface.
type Config struct {
	// Version of the document format. Only 1 exists; 0 means 1.
	Version int `json:"version,omitempty"`
	// Hostname of the node, also its fleet machine name and etcd member name
	// unless Cluster.Name says otherwise. Default: "flotilla-" + the first 8
	// characters of the machine ID.
	Hostname string `json:"hostname,omitempty"`
	// Network configures interfaces. Default: DHCP on every ethernet.
	Network Network `json:"network,omitzero"`
	// Cluster says whether this node is an etcd member or a client.
	Cluster Cluster `json:"cluster,omitzero"`
	// Metadata is fleet machine metadata for [X-Fleet] MachineMetadata.
	Metadata map[string]string `json:"metadata,omitempty"`
	// TLS is the cluster's mutual-TLS bundle, PEM text. With it, etcd peers,
	// etcd clients and the API on TCP port 7700 all require client
	// certificates signed by CA.
	TLS *TLS `json:"tls,omitempty"`
	// Update points the updater at its server.
	Update *Update `json:"update,omitempty"`
	// Units are submitted (and started unless Start is false) once fleetd is
	// up. A unit that already exists in the cluster is left as it is.
	Units []Unit `json:"units,omitempty"`
	// LogForward lists where the node copies every unit's output and the
	// log lines of its own services (fleetd, the updater): syslog (RFC
	// 5424 over UDP, TCP or TLS) or JSON lines over TCP, as fleetd's
	// --log-forward. At most 8.
	LogForward []LogDestination `json:"log_forward,omitempty"`
	// DebugShell starts a shell on the serial console (also: flotilla.debug=1
	// on the kernel command line).
	DebugShell bool `json:"debug_shell,omitempty"`
}

// LogDestination is one log receiver.
type LogDestination struct {
	// URL is a --log-forward destination: syslog+udp://HOST[:514],
	// syslog+tcp://HOST[:514], syslog+tls://HOST[:6514] or
	// json+tcp://HOST:PORT, with an optional ?buffer=SIZE.
	URL string `json:"url"`
	// CA is the PEM CA that signs a syslog+tls receiver's certificate
	// (default: the system's roots).
	CA string `json:"ca,omitempty"`
}

// Network is the node's network configuration.
type Network struct {
	Interfaces []Interface `json:"interfaces,omitempty"`
	// DNS servers written to /etc/resolv.conf (a link into /run). DHCP's
	// servers are used when this is empty. Nothing is invented.
	DNS []string `json:"dns,omitempty"`
}

// Interface configures one link by kernel name (eth0) or MAC address.
type Interface struct {
	Name string `json:"name,omitempty"`
	MAC  string `json:"mac,omitempty"`
	// DHCP asks for an IPv4 lease. It cannot be combined with Addresses.
	DHCP bool `json:"dhcp,omitempty"`
	// Addresses are static CIDRs such as "10.77.0.1/24".
	Addresses []string `json:"addresses,omitempty"`
	// Gateway is the default route's next hop for a static interface.
	Gateway string `json:"gateway,omitempty"`
	MTU     int    `json:"mtu,omitempty"`
}

// Cluster is the node's role in the etcd cluster.
type Cluster struct {
	// Role is "member" (run an embedded etcd member) or "client" (use
	// Endpoints). Default: member of a one-node cluster.
	Role string `json:"role,omitempty"`
	// Name is the etcd member name. Default: the hostname.
	Name string `json:"name,omitempty"`
	// PeerURL and ClientURL are this member's advertised URLs, such as
	// https://10.77.0.1:2380 and https://10.77.0.1:2379.
	PeerURL   string `json:"peer_url,omitempty"`
	ClientURL string `json:"client_url,omitempty"`
	// InitialCluster lists every initial member as name=peer-url pairs,
	// comma-separated, as etcd's --initial-cluster.
	InitialCluster string `json:"initial_cluster,omitempty"`
	// Endpoints are etcd client URLs for Role "client".
	Endpoints []string `json:"endpoints,omitempty"`
	// Network is the cluster network fleetd joins (--cluster-cidr,
	// --subnet-len, --network-backend); zero fields take fleetd's defaults.
	Network ClusterNetwork `json:"network,omitzero"`
}

// ClusterNetwork splits a CIDR into one container subnet per machine.
type ClusterNetwork struct {
	CIDR      string `json:"cidr,omitempty"`       // default 10.88.0.0/16
	SubnetLen int    `json:"subnet_len,omitempty"` // default 24
	Backend   string `json:"backend,omitempty"`    // vxlan (default) or host-gw
}

// TLS is a PEM bundle: the cluster CA and this node's certificate and key.
type TLS struct {
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// Update configures the updater.
type Update struct {
	URL string `json:"url"`
	// PublicKey is the ed25519 key that signs payloads, base64 (std) of the
	// 32 raw bytes.
	PublicKey string `json:"public_key"`
	// Interval between polls, a Go duration; default 1h. Jittered.
	Interval string `json:"interval,omitempty"`
	// Channel the node follows; default "stable".
	Channel string `json:"channel,omitempty"`
	// RebootWindow limits when the node takes the reboot lock, and so
	// drains and reboots, for an update; it downloads and stages at any
	// time. Default: any time.
	RebootWindow *RebootWindow `json:"reboot_window,omitempty"`
}

// RebootWindow is a weekly or daily window for update reboots, in UTC (as
// locksmith's REBOOT_WINDOW_START and REBOOT_WINDOW_LENGTH). See
// internal/rebootwindow.
type RebootWindow struct {
	// Start is "Day HH:MM" (weekly, Day is Mon..Sun or the full name, any
	// case) or "HH:MM" (every day), 24-hour UTC: "Thu 04:00".
	Start string `json:"start"`
	// Length is a Go duration above 0 and at most 168h: "1h".
	Length string `json:"length"`
}

// Unit is a unit file to submit at boot.
type Unit struct {
	Name     string `json:"name"`
	Contents string `json:"contents"`
	// Start defaults to true: nil means start.
	Start *bool `json:"start,omitempty"`
}
