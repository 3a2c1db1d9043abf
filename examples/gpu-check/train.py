"""A small real PyTorch training for scripts/gpu-check: an MLP on synthetic data, on the
GPU the runner pinned (CUDA_VISIBLE_DEVICES), logging its loss and throughput to Cairn.
It checkpoints when asked to stop and resumes from its checkpoint."""

import argparse
import os
import time

import torch
import cairn

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=3000)
parser.add_argument("--batch", type=int, default=4096)
parser.add_argument("--width", type=int, default=4096)
args = parser.parse_args()

run = cairn.init()
assert torch.cuda.is_available(), "no CUDA device is visible to this job"
device = torch.device("cuda")
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(512, args.width), torch.nn.ReLU(), torch.nn.Linear(args.width, args.width), torch.nn.ReLU(),
    torch.nn.Linear(args.width, 10),
).to(device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
start = 0
state = run.resume_state()
if state is not None:
    ckpt = torch.load(state["path"], map_location=device)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["opt"])
    start = state["step"] + 1
x = torch.randn(args.batch, 512, device=device)
y = torch.randint(0, 10, (args.batch,), device=device)
t0 = time.time()
for step in range(start, args.steps):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if step % 50 == 0:
        torch.cuda.synchronize()
        run.log({"loss": loss.item(), "samples_per_s": 50 * args.batch / max(time.time() - t0, 1e-9)}, step=step)
        t0 = time.time()
    if run.should_checkpoint():
        path = os.path.join(run.checkpoint_dir, "ckpt.pt")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
        run.save_checkpoint(path, step=step)
        break
