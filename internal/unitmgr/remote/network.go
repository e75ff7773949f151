package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// NetworkSetter is a manager whose container bridge can be moved to the
// subnet fleetd claimed on the cluster network (machine.Manager is one).
type NetworkSetter interface {
	SetNetwork(subnet, clusterCIDR string, mtu int) error
}

// NetworkRequest is the body of PUT /v1/network.
type NetworkRequest struct {
	Subnet      string `json:"subnet"`       // the node's bridge subnet, e.g. 10.88.3.0/24
	ClusterCIDR string `json:"cluster_cidr"` // every node's subnet lies in it
	MTU         int    `json:"mtu"`          // of the bridge and containers; 0 leaves it
}

func (s *server) network(w http.ResponseWriter, r *http.Request) {
	ns, ok := s.m.(NetworkSetter)
	if !ok {
		writeError(w, http.StatusNotImplemented, "", "remote: this unit manager has no container bridge to configure")
		return
	}
	var in NetworkRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "", fmt.Sprintf("remote: network: body: %v (want {\"subnet\", \"cluster_cidr\", \"mtu\"})", err))
		return
	}
	if err := ns.SetNetwork(in.Subnet, in.ClusterCIDR, in.MTU); err != nil {
		fail(w, err)
		return
	}
	s.opts.Logf("remote: container bridge on %s (cluster %s, MTU %d)", in.Subnet, in.ClusterCIDR, in.MTU)
	w.WriteHeader(http.StatusNoContent)
}

// SetNetwork tells the host's manager the node's bridge subnet on the
// cluster network; fleetd calls it before its agent starts any unit.
func (c *Client) SetNetwork(ctx context.Context, req NetworkRequest) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, _ := json.Marshal(req)
	return c.call(ctx, http.MethodPut, "/v1/network", bytes.NewReader(b), "application/json", nil)
}
