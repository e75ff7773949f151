package fleetctl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

func imageFields() map[string]fieldFunc[*schema.Image] {
	return map[string]fieldFunc[*schema.Image]{
		"machine": func(i *schema.Image, full bool) string { return dash(shortID(i.MachineID, full)) },
		"image":   func(i *schema.Image, _ bool) string { return dash(i.Ref) },
		"digest": func(i *schema.Image, full bool) string {
			d := strings.TrimPrefix(i.Digest, "sha256:")
			if !full && len(d) > 12 {
				d = d[:12]
			}
			return dash(d)
		},
		"size":   func(i *schema.Image, _ bool) string { return humanSize(i.Size) },
		"layers": func(i *schema.Image, _ bool) string { return fmt.Sprint(i.Layers) },
	}
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// machineIDs resolves --machine (a full ID or a unique prefix) or, when
// empty, every machine in the cluster.
func (a *app) machineIDs(prefix string) ([]string, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	ms, err := c.Machines(a.ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieving list of active machines: %w", err)
	}
	var ids []string
	for _, m := range ms {
		if prefix == "" || strings.HasPrefix(m.ID, prefix) {
			ids = append(ids, m.ID)
		}
	}
	sort.Strings(ids)
	if prefix != "" && len(ids) != 1 {
		return nil, fmt.Errorf("--machine %s matches %d machines: give more of the ID (fleetctl list-machines --full)", prefix, len(ids))
	}
	return ids, nil
}

func (a *app) imagesCommand() *cobra.Command {
	var lf listFlags
	var machine string
	fields := imageFields()
	cmd := &cobra.Command{
		Use:   "images [--machine ID] [-l|--full] [--no-legend] [--fields] [-o json]",
		Short: "List the container images stored on each machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(lf.output); err != nil {
				return err
			}
			cols, err := parseFields(lf.fields, fields)
			if err != nil {
				return err
			}
			ids, err := a.machineIDs(machine)
			if err != nil {
				return err
			}
			c, _ := a.client()
			var all []*schema.Image
			for _, id := range ids {
				imgs, err := c.Images(a.ctx, id)
				if err != nil {
					return fmt.Errorf("images of machine %s: %w", id, err)
				}
				all = append(all, imgs...)
			}
			sort.SliceStable(all, func(i, j int) bool {
				if all[i].MachineID != all[j].MachineID {
					return all[i].MachineID < all[j].MachineID
				}
				return all[i].Ref < all[j].Ref
			})
			if lf.output == "json" {
				return printJSON(a.rt.Stdout, nonNil(all))
			}
			return printTable(a.rt.Stdout, cols, fields, all, lf)
		},
	}
	cmd.Flags().StringVar(&machine, "machine", "", "only this machine (ID or unique prefix)")
	addListFlags(cmd, &lf, "machine,image,digest,size", fieldNames(fields), "Image")
	return cmd
}

func (a *app) pullCommand() *cobra.Command {
	var machine string
	cmd := &cobra.Command{
		Use:   "pull [--machine ID] IMAGE...",
		Short: "Pull (or load) container images on every machine, or on one",
		Long: `Pull stores images ahead of the units that use them. IMAGE takes the
transports of [Container] Image=: a registry reference (docker.io/library/redis:7,
127.0.0.1:5000/x:1), docker-archive:/path.tar, oci-archive:/path.tar or oci:/dir
(paths are on the machines).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := a.machineIDs(machine)
			if err != nil {
				return err
			}
			c, _ := a.client()
			var failed []string
			for _, ref := range args {
				for _, id := range ids {
					img, err := c.Pull(a.ctx, id, ref)
					if err != nil {
						fmt.Fprintf(a.rt.Stderr, "Error: %v\n", err)
						failed = append(failed, ref+"@"+id[:min(8, len(id))])
						continue
					}
					a.stdout("Pulled %s on %s: %s", img.Ref, shortID(id, false), img.Digest)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d pulls failed: %s", len(failed), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&machine, "machine", "", "only this machine (ID or unique prefix)")
	return cmd
}
