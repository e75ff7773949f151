package registry

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// metadataDir holds metadata set through the API (fleet's PATCH
// /fleet/v1/machines): metadata/<machine>/<key> = value, on no lease, so it
// outlives the machine leaving and rejoining, as fleet documents. It
// overrides the machine's own metadata of the same key.
const metadataDir = Prefix + "metadata/"

// SetMachineMetadata sets key=value on machine, registered or not.
func (r *Registry) SetMachineMetadata(ctx context.Context, machine, key, value string) error {
	if _, err := r.cli.Put(ctx, metadataDir+machine+"/"+key, value); err != nil {
		return fmt.Errorf("registry: set metadata %s of machine %s: %w", key, machine, err)
	}
	return nil
}

// DeleteMachineMetadata removes key set by SetMachineMetadata on machine.
// The machine's own metadata (its --metadata) is not touched.
func (r *Registry) DeleteMachineMetadata(ctx context.Context, machine, key string) error {
	if _, err := r.cli.Delete(ctx, metadataDir+machine+"/"+key); err != nil {
		return fmt.Errorf("registry: delete metadata %s of machine %s: %w", key, machine, err)
	}
	return nil
}

// opGetMetadata reads every machine's API-set metadata.
func opGetMetadata() clientv3.Op { return clientv3.OpGet(metadataDir, clientv3.WithPrefix()) }

// overlayMetadata lays the API-set metadata in resp over each machine's own.
// The records are copied, not changed in place.
func overlayMetadata(ms iter.Seq[*MachineRecord], resp *clientv3.GetResponse) {
	set := map[string]map[string]string{}
	for _, kv := range resp.Kvs {
		machine, key, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), metadataDir), "/")
		if !ok || key == "" {
			continue
		}
		if set[machine] == nil {
			set[machine] = map[string]string{}
		}
		set[machine][key] = string(kv.Value)
	}
	for m := range ms {
		extra := set[m.ID]
		if len(extra) == 0 {
			continue
		}
		md := maps.Clone(m.Metadata)
		if md == nil {
			md = map[string]string{}
		}
		maps.Copy(md, extra)
		m.Metadata = md
	}
}
