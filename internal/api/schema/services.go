package schema

// Service is one endpoint of an active unit, as GET /fleet/v1/services
// lists it (a Flotilla addition; fleet had no such list).
type Service struct {
	// Service is the DNS name that answers for the unit's group
	// ("web.flotilla" for web@1.service); Name the unit itself.
	Service   string        `json:"service"`
	Name      string        `json:"name"`
	MachineID string        `json:"machineID"`
	MachineIP string        `json:"machineIP"`
	Addr      string        `json:"addr,omitempty"` // the unit's bridge address
	Ports     []ServicePort `json:"ports,omitempty"`
	Health    string        `json:"health,omitempty"` // "" no check | starting | healthy | unhealthy
	// InDNS: the node's DNS answers with this endpoint (not starting or
	// unhealthy).
	InDNS bool `json:"inDNS"`
}

// ServicePort is one published port: HostPort on MachineIP reaches
// ContainerPort on Addr.
type ServicePort struct {
	HostPort      uint16 `json:"hostPort"`
	ContainerPort uint16 `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// ServicePage is one page of services.
type ServicePage struct {
	Services      []*Service `json:"services"`
	NextPageToken string     `json:"nextPageToken,omitempty"`
}
