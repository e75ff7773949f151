package node

// Sockets and run-time files (on tmpfs, /run).
const (
	// FleetdSocket is fleetd's root-only API socket (fleetd --api-socket's
	// default, fleetctl's default endpoint, the updater's health check).
	FleetdSocket = "/run/fleetd/fleetd.sock"
	// UnitsSocket is the unit manager init hosts for fleetd
	// (fleetd --unit-manager unix:UnitsSocket).
	UnitsSocket = "/run/flotilla/units.sock"
	// ConfigPath is the effective boot config init writes (0600) for the
	// updater.
	ConfigPath = "/run/flotilla/config.json"
	// TLSDir holds the config's TLS bundle that init writes (TLSCAFile,
	// TLSCertFile, TLSKeyFile).
	TLSDir = "/run/flotilla/tls"
	// ResolvConf is where init writes DNS servers; the root's
	// /etc/resolv.conf is a symlink to it.
	ResolvConf = "/run/resolv.conf"
)

// The file names of a node's TLS bundle, in TLSDir or, for a lone member
// without a bundle, in fleetd's LocalTLSDir.
const (
	TLSCAFile   = "ca.pem"
	TLSCertFile = "node.pem"
	TLSKeyFile  = "node-key.pem"
)

// Mount points of the booted root.
const (
	// VarDir is where STATE is mounted.
	VarDir = "/var"
	// ESPDir is where the EFI system partition is mounted.
	ESPDir = "/efi"
)

// Paths on STATE, relative to VarDir.
const (
	MachineIDFile  = "lib/flotilla/machine-id"
	RandomSeedFile = "lib/flotilla/random-seed"
	ConfigCopyFile = "lib/flotilla/config.json" // the config of the first boot
	FleetdDataDir  = "lib/fleetd"               // fleetd --data-dir
	UnitsDataDir   = "lib/flotilla/node"        // the hosted unit manager's units/, images/, containers/
	ServicesDir    = "lib/flotilla/services"    // init's own services (logs/)
)

// Absolute paths on a booted node, for programs that do not join VarDir
// themselves.
const (
	// FleetdDefaultDataDir is fleetd's --data-dir default.
	FleetdDefaultDataDir = VarDir + "/" + FleetdDataDir
	// LocalTLSDir holds the node-local CA and certificate fleetd makes for
	// a lone member given no TLS bundle (<fleetd data dir>/tls).
	LocalTLSDir = FleetdDefaultDataDir + "/tls"
	// MachineIDPath is init's machine ID on STATE.
	MachineIDPath = VarDir + "/" + MachineIDFile
)

// Ports and the etcd URLs of a lone member.
const (
	// APIPort is fleetd's TCP API (mutual TLS) on a node.
	APIPort = 7700
	// EtcdPeerURL and EtcdClientURL are a lone member's etcd on loopback,
	// the default when neither a member's URLs nor endpoints are given.
	EtcdPeerURL   = "https://127.0.0.1:2380"
	EtcdClientURL = "https://127.0.0.1:2379"
)

// Files in the initramfs, relative to its root (image-build writes them,
// init reads them at /).
const (
	// ModulesList lists the kernel modules stage 1 loads, one path a line
	// relative to /lib/modules/<uname -r>/, dependencies first.
	ModulesList = "etc/flotilla/modules.load"
	// StorageModulesList lists the real-disk drivers loaded only when the
	// boot disk does not show up without them.
	StorageModulesList = "etc/flotilla/modules-storage.load"
)
