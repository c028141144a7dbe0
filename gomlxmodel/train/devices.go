package train

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	"github.com/gomlx/gomlx/ml/model"
)

// Data-parallel training over the devices of one host (train --devices N), with GoMLX v0.26.0's
// own distributed machinery and nothing written by hand for the gradient exchange:
//
//   - a 1-D device mesh with axis "batch" over devices 0..N−1;
//   - the step's Exec (the same stepGraph as on one device) set to AutoSharding on that mesh:
//     ids and targets sharded along their batch axis, the three scalars replicated, every
//     output replicated; the parameters and optimizer state are context variables, which
//     AutoSharding replicates by default (Context's default sharding spec);
//   - XLA's SPMD partitioner (Shardy) partitions the graph: each device runs the forward and
//     backward pass on its B/N rows, and the reductions over the batch (the loss mean, hence
//     every gradient) become all-reduces over NCCL that XLA inserts. The optimizer update then
//     runs replicated, identically on every device, so the replicas never drift apart.
//
// The global batch is the preset's batch_size (it must be a multiple of N); the loss curve is
// that of one device up to float reassociation in the all-reduce. Evaluation runs on device 0
// (the variables' replicated values merge to one host copy when read), and so do checkpoints
// and the training state, which are those of a one-device run: --resume works with any N.

// meshAxis names the data-parallel mesh axis.
const meshAxis = "batch"

// devicePlan is the sharding of the training step over several devices.
type devicePlan struct {
	n          int
	mesh       *distributed.DeviceMesh
	batch, rep *distributed.ShardingSpec
}

// resolveDevices turns Options.Devices (0 or 1: one device; −1: all) into a device count of
// backend b, checking that the batch splits evenly.
func resolveDevices(b compute.Backend, want, batch int) (int, error) {
	have := b.NumDevices()
	n := want
	switch {
	case want == 0:
		n = 1
	case want < 0:
		n = have
	}
	if n > have {
		return 0, fmt.Errorf("--devices %d: the backend (%s) has %d device(s)", n, b.Name(), have)
	}
	if n > 1 && batch%n != 0 {
		return 0, fmt.Errorf("--devices %d: batch_size %d is not a multiple of the device count (each device takes batch/N rows)", n, batch)
	}
	return n, nil
}

// newDevicePlan builds the mesh and the sharding specs of a step over n > 1 devices.
func newDevicePlan(n int) (*devicePlan, error) {
	mesh, err := distributed.NewDeviceMesh([]int{n}, []string{meshAxis})
	if err != nil {
		return nil, err
	}
	batch, err := distributed.BuildSpec(mesh).S(meshAxis).R().Done()
	if err != nil {
		return nil, err
	}
	return &devicePlan{n: n, mesh: mesh, batch: batch, rep: distributed.NewReplicatedShardingSpec(mesh)}, nil
}

// distribute configures the step Exec: AutoSharding on the mesh, (ids, targets) sharded on the
// batch axis, the scalars and all outputs replicated, devices 0..n−1.
func (p *devicePlan) distribute(e *model.Exec) *model.Exec {
	devs := make([]compute.DeviceNum, p.n)
	for i := range devs {
		devs[i] = compute.DeviceNum(i)
	}
	return e.AutoSharding(p.mesh).
		WithInputShardingSpecs(p.batch, p.batch, p.rep). // the last spec covers the remaining scalars
		WithOutputShardingSpecs(p.rep).
		WithDeviceAssignment(devs)
}

// exec runs the distributed step on host inputs (ids, targets (B, T); lr, lr1d, step scalars)
// and returns device 0's copy of each (replicated) output.
func (p *devicePlan) exec(e *model.Exec, ids, targets *tensors.Tensor, scalars ...float32) ([]*tensors.Tensor, error) {
	args := make([]any, 0, 2+len(scalars))
	for _, t := range []*tensors.Tensor{ids, targets} {
		d, err := dtensor.ShardTensor(p.batch, t)
		if err != nil {
			return nil, err
		}
		args = append(args, d)
	}
	for _, s := range scalars {
		d, err := dtensor.ShardTensor(p.rep, tensors.FromScalar(s))
		if err != nil {
			return nil, err
		}
		args = append(args, d)
	}
	outs, err := e.DistributedExec(args...)
	if err != nil {
		return nil, err
	}
	res := make([]*tensors.Tensor, len(outs))
	for i, o := range outs {
		if res[i], err = o.Shards()[0].LocalClone(); err != nil {
			return nil, err
		}
		if err := o.Finalize(); err != nil {
			return nil, err
		}
	}
	return res, nil
}
