#!/usr/bin/env python3
"""Writes test/fixtures/optim-torch.json: torch.optim's parameter after each of 5 steps, for test/ops/optim.test.ts.

Each case: a seeded float32 parameter, 5 gradients (scaled differently per step so AMSGrad's maximum and the
running averages matter), a learning rate per step (some cases change it mid-run, as a schedule would), the
options in resnet-node's names (`options`, passed as is to lib/ops/optim.ts) and in torch's (`torch`), the
initial state fills, torch's parameter after every step and its state buffers after the last one.
Empty `options` check that our defaults equal torch's (for SGD: fb.resnet.torch's, given to torch explicitly).

Run: python3 scripts/gen-optim-fixtures.py  (needs torch; CPU, single-tensor path: foreach=False)
"""
import json
import os

import torch

SHAPE = [2, 3, 4]
STEPS = 5
GRAD_SCALES = [1.0, 0.3, 2.0, 0.1, 1.0]
SCHEDULE = [1.0, 1.0, 0.5, 0.5, 0.1]  # multiplies the base lr in the cases that change it

# (optimizer, name, our options, torch kwargs, base lr, varying schedule, initial state fills)
CASES = [
    ("sgd", "fb.resnet.torch defaults (momentum 0.9, nesterov, wd 1e-4)", {},
     dict(momentum=0.9, nesterov=True, weight_decay=1e-4, dampening=0), 0.1, True, {}),
    ("sgd", "plain SGD", dict(momentum=0, nesterov=False, weightDecay=0), {}, 0.1, False, {}),
    ("sgd", "momentum 0.9, dampening 0.1, wd 5e-4, no nesterov",
     dict(momentum=0.9, dampening=0.1, weightDecay=5e-4, nesterov=False),
     dict(momentum=0.9, dampening=0.1, weight_decay=5e-4, nesterov=False), 0.05, True, {}),
    ("sgd", "nesterov momentum 0.5, no decay", dict(momentum=0.5, weightDecay=0, nesterov=True),
     dict(momentum=0.5, nesterov=True), 0.2, False, {}),
    ("rmsprop", "defaults", {}, {}, 1e-2, False, {}),
    ("rmsprop", "momentum 0.9, wd 1e-4", dict(momentum=0.9, weightDecay=1e-4),
     dict(momentum=0.9, weight_decay=1e-4), 1e-3, True, {}),
    ("rmsprop", "centered", dict(centered=True), dict(centered=True), 1e-2, False, {}),
    ("rmsprop", "centered, momentum 0.5, alpha 0.9, eps 1e-6, wd 1e-3",
     dict(centered=True, momentum=0.5, alpha=0.9, eps=1e-6, weightDecay=1e-3),
     dict(centered=True, momentum=0.5, alpha=0.9, eps=1e-6, weight_decay=1e-3), 1e-2, True, {}),
    ("adadelta", "defaults", {}, {}, 1.0, False, {}),
    ("adadelta", "rho 0.3, eps 1e-5, wd 1e-4", dict(rho=0.3, eps=1e-5, weightDecay=1e-4),
     dict(rho=0.3, eps=1e-5, weight_decay=1e-4), 0.5, True, {}),
    ("adagrad", "defaults", {}, {}, 1e-2, False, {}),
    ("adagrad", "lr_decay 0.1, initial accumulator 0.1, eps 1e-8, wd 1e-4",
     dict(lrDecay=0.1, eps=1e-8, weightDecay=1e-4),
     dict(lr_decay=0.1, initial_accumulator_value=0.1, eps=1e-8, weight_decay=1e-4), 0.1, True,
     {"stateSum": 0.1}),
    ("adam", "defaults", {}, {}, 1e-3, False, {}),
    ("adam", "betas (0.8, 0.99), eps 1e-6, L2 wd 1e-2", dict(beta1=0.8, beta2=0.99, eps=1e-6, weightDecay=1e-2),
     dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2), 1e-2, True, {}),
    ("adam", "amsgrad", dict(amsgrad=True), dict(amsgrad=True), 1e-2, False, {}),
    ("adamw", "defaults (wd 1e-2)", {}, {}, 1e-3, False, {}),
    ("adamw", "wd 0.1, betas (0.85, 0.98), amsgrad", dict(weightDecay=0.1, beta1=0.85, beta2=0.98, amsgrad=True),
     dict(weight_decay=0.1, betas=(0.85, 0.98), amsgrad=True), 1e-2, True, {}),
]

TORCH_CLASS = {
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}

# torch state key → our buffer name
STATE_NAMES = {
    "momentum_buffer": "momentumBuf",
    "square_avg": "squareAvg",
    "grad_avg": "gradAvg",
    "acc_delta": "accDelta",
    "sum": "stateSum",
    "exp_avg": "expAvg",
    "exp_avg_sq": "expAvgSq",
    "max_exp_avg_sq": "maxExpAvgSq",
}


def f32_list(t):
    """float32 values as the shortest decimals that round back to the same float32."""
    return [float("%.9g" % v) for v in t.detach().to(torch.float32).flatten().tolist()]


def run_case(index, kind, name, options, torch_kwargs, base_lr, varying, init):
    torch.manual_seed(1000 + index)
    param0 = torch.randn(SHAPE, dtype=torch.float32)
    grads = [torch.randn(SHAPE, dtype=torch.float32) * s for s in GRAD_SCALES]
    lrs = [base_lr * (SCHEDULE[k] if varying else 1.0) for k in range(STEPS)]

    p = torch.nn.Parameter(param0.clone())
    opt = TORCH_CLASS[kind]([p], lr=lrs[0], foreach=False, **torch_kwargs)
    params = []
    for k in range(STEPS):
        opt.param_groups[0]["lr"] = lrs[k]
        p.grad = grads[k].clone()
        opt.step()
        params.append(f32_list(p))
    state = {STATE_NAMES[key]: f32_list(v) for key, v in opt.state[p].items() if key in STATE_NAMES}
    return {
        "optimizer": kind,
        "name": name,
        "options": options,
        "torch": {k: list(v) if isinstance(v, tuple) else v for k, v in torch_kwargs.items()},
        "init": init,
        "shape": SHAPE,
        "param": f32_list(param0),
        "grads": [f32_list(g) for g in grads],
        "lrs": lrs,
        "params": params,
        "state": state,
    }


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = os.path.join(root, "test", "fixtures", "optim-torch.json")
    cases = [run_case(i, *c) for i, c in enumerate(CASES)]
    doc = {
        "generator": "scripts/gen-optim-fixtures.py",
        "torch": torch.__version__,
        "steps": STEPS,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.relpath(out, root)} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
