#!/usr/bin/python3
"""Train the seed GoogLeNet (training/googlenet_seed.py) on Fashion-MNIST and export it to ONNX.

The images come from Debian's dataset-fashion-mnist package (gzip idx files, no download). Each 28x28 image is
scaled to [0,1], lightly augmented (random shift of up to 2 pixels, random horizontal flip), upsampled to 96x96
bilinearly per batch (as torchvision's Resize would) and normalised with fixed mean/std. The two auxiliary
classifiers of the paper (after inception 4a and 4d) add 0.3 x their losses during training and are left out of the
export.

Everything that decides the run (data order, augmentation, dropout, optimizer, LR schedule) is seeded and
checkpointed, so `--resume` continues an interrupted run exactly where the last checkpoint left it.

Outputs under --out: train.log, checkpoint.pt (latest, for --resume), model.pt (final weights without the
auxiliary heads), googlenet_seed_fmnist.onnx, summary.json.
"""

import argparse
import datetime
import gzip
import json
import logging
import math
import os
import shlex
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from googlenet_seed import GoogLeNetSeed  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Pixel statistics of the 60,000 training images at 28x28 after scaling to [0,1] (the usual published values). They
# are fixed so that the browser-side preprocessing can reproduce them: x -> (x / 255 - MEAN) / STD.
MEAN = 0.2860
STD = 0.3530
INPUT_SIZE = 96
AUX_LOSS_WEIGHT = 0.3
MAX_SHIFT = 2  # pixels, at 28x28
CHECKPOINT_NAME = "checkpoint.pt"

log = logging.getLogger("train")


# ---------------------------------------------------------------------------------------------------------- data


def read_idx(path):
    """Parse a gzip idx file (big-endian header: magic with the dimension count in its low byte, then the sizes)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(prefix):
    images = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    # Kept as uint8 (47 MB for the training set); converted to float per batch.
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def load_datasets(val_size, seed, train_limit=None):
    """Train/validation split of the 60k training images (fixed by `seed`), and the untouched 10k test set."""
    images, labels = load_split("train")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:val_size], order[val_size:]
    if train_limit:
        train_idx = train_idx[:train_limit]
    return {
        "train": (images[train_idx], labels[train_idx]),
        "val": (images[val_idx], labels[val_idx]),
        "test": load_split("t10k"),
    }


def random_shift_and_flip(x, generator):
    """Light augmentation on a [N,1,28,28] float batch: shift by up to MAX_SHIFT pixels (zero fill = the black
    background) and flip half the images horizontally (clothes are roughly left-right symmetric)."""
    n = x.shape[0]
    padded = F.pad(x, (MAX_SHIFT,) * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = offsets[i].tolist()
        crop = padded[i, :, dy : dy + 28, dx : dx + 28]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def to_network_input(images_uint8, augment_generator=None):
    """uint8 [N,28,28] -> normalised float [N,1,96,96] in channels-last layout (mkldnn's faster path on CPU)."""
    x = images_uint8.unsqueeze(1).float().div_(255.0)
    if augment_generator is not None:
        x = random_shift_and_flip(x, augment_generator)
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    x = (x - MEAN) / STD
    return x.contiguous(memory_format=torch.channels_last)


def epoch_order(num_images, seed, epoch):
    """The shuffle of one epoch depends only on (seed, epoch), so a resumed run can regenerate it."""
    return torch.randperm(num_images, generator=torch.Generator().manual_seed(seed * 1000 + epoch))


# ------------------------------------------------------------------------------------------------- model, optim


def build_optimizer(model, lr, weight_decay):
    # No weight decay on biases: they are few and decaying them only hurts.
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999))


def build_scheduler(optimizer, args, total_steps):
    # One-cycle: a warmup from lr/25 (the net has no batch norm, so a cold start at full LR can diverge), then
    # cosine annealing to lr/25000, which gives most of the final accuracy in a short run. With anneal_strategy
    # "cos" both phases follow a half cosine.
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=args.lr,
        total_steps=total_steps,
        pct_start=args.warmup_fraction,
        anneal_strategy="cos",
        div_factor=25.0,
        final_div_factor=1000.0,
        cycle_momentum=False,
    )


def training_loss(outputs, targets, label_smoothing):
    logits, aux_logits = outputs
    loss = F.cross_entropy(logits, targets, label_smoothing=label_smoothing)
    for aux in aux_logits:
        loss = loss + AUX_LOSS_WEIGHT * F.cross_entropy(aux, targets, label_smoothing=label_smoothing)
    return loss, logits


@torch.no_grad()
def evaluate(model, dataset, device, batch_size=250):
    """Accuracy and mean cross-entropy (main head only, eval mode so the aux heads do not run)."""
    was_training = model.training
    model.eval()
    images, labels = dataset
    correct, loss_sum = 0, 0.0
    for start in range(0, len(images), batch_size):
        x = to_network_input(images[start : start + batch_size]).to(device)
        y = labels[start : start + batch_size].to(device)
        logits = model(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    model.train(was_training)
    return correct / len(images), loss_sum / len(images)


# ---------------------------------------------------------------------------------------------------- checkpoint


def save_checkpoint(path, model, optimizer, scheduler, augment_generator, state):
    """Atomic (write then rename), so an interruption during the write keeps the previous checkpoint."""
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "augment_rng": augment_generator.get_state(),
        "torch_rng": torch.get_rng_state(),  # drives the aux heads' dropout
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "state": state,
    }
    tmp = path + ".tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, model, optimizer, scheduler, augment_generator):
    payload = torch.load(path, map_location="cpu")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    augment_generator.set_state(payload["augment_rng"])
    torch.set_rng_state(payload["torch_rng"])
    if payload["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["cuda_rng"])
    return payload["state"]


# -------------------------------------------------------------------------------------------------------- export


def inference_model(trained):
    """The same network without the auxiliary heads, holding the trained weights, in eval mode."""
    model = GoogLeNetSeed(num_classes=len(CLASS_NAMES), aux=False)
    weights = {k: v.cpu() for k, v in trained.state_dict().items() if not k.startswith("aux.")}
    model.load_state_dict(weights)
    return model.eval()


def export_onnx(model, path):
    dummy = torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(
        model,
        dummy,
        path,
        opset_version=13,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
    )
    import onnx  # only needed here

    onnx.checker.check_model(onnx.load(path))


# ---------------------------------------------------------------------------------------------------- main loop


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="With --resume, the recipe stored in the checkpoint is used and the recipe options given are ignored.",
    )
    p.add_argument("--out", required=True, help="output folder (e.g. training/runs/fmnist)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    recipe = p.add_argument_group("recipe")
    recipe.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    recipe.add_argument("--batch-size", type=int, default=64, help="default 64")
    recipe.add_argument("--lr", type=float, default=6e-4, help="peak AdamW learning rate of the one-cycle schedule (default 6e-4)")
    recipe.add_argument("--warmup-fraction", type=float, default=0.1, help="share of the steps spent warming up (default 0.1)")
    recipe.add_argument("--weight-decay", type=float, default=0.05, help="AdamW decoupled weight decay on weights (default 0.05)")
    recipe.add_argument("--label-smoothing", type=float, default=0.1, help="default 0.1")
    recipe.add_argument("--clip-grad-norm", type=float, default=2.0, help="max global gradient norm (default 2.0)")
    recipe.add_argument("--no-augment", action="store_true", help="disable the random shift and flip")
    recipe.add_argument("--val-size", type=int, default=5000, help="images held out of the training set (default 5000)")
    recipe.add_argument("--seed", type=int, default=1, help="default 1")
    recipe.add_argument("--train-limit", type=int, default=None, help="use only this many training images (for quick tests)")
    run = p.add_argument_group("run")
    run.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2; torch defaults to 1 here)")
    run.add_argument("--log-every", type=int, default=20, help="steps between progress lines (default 20)")
    run.add_argument("--checkpoint-minutes", type=float, default=10.0, help="checkpoint at least this often (default 10)")
    run.add_argument("--checkpoint-every-steps", type=int, default=0, help="also checkpoint every N steps (for tests)")
    run.add_argument("--stop-after-steps", type=int, default=0, help="checkpoint and exit at this global step (simulates an interruption)")
    run.add_argument("--skip-test", action="store_true", help="do not evaluate on the test set at the end (quick tests)")
    return p.parse_args(argv)


RECIPE_KEYS = ["epochs", "batch_size", "lr", "warmup_fraction", "weight_decay", "label_smoothing", "clip_grad_norm",
               "no_augment", "val_size", "seed", "train_limit"]


def setup_logging(out_dir):
    log.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler(os.path.join(out_dir, "train.log"))):
        handler.setFormatter(fmt)
        log.addHandler(handler)


def format_duration(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    setup_logging(args.out)
    checkpoint_path = os.path.join(args.out, CHECKPOINT_NAME)
    command = "/usr/bin/python3 " + " ".join(shlex.quote(a) for a in sys.argv) if argv is None else shlex.join(argv)

    resume_payload_state = None
    if args.resume:
        if not os.path.exists(checkpoint_path):
            sys.exit(f"--resume: no {checkpoint_path}")
        stored = torch.load(checkpoint_path, map_location="cpu")["state"]
        for key in RECIPE_KEYS:  # the recipe must be the checkpoint's, or the run would not be the same run
            setattr(args, key, stored["recipe"][key])
        resume_payload_state = stored

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log.info("command: %s", command)
    log.info("device %s, torch %s, %d threads", device, torch.__version__, torch.get_num_threads())

    data = load_datasets(args.val_size, args.seed, args.train_limit)
    train_images, train_labels = data["train"]
    steps_per_epoch = len(train_images) // args.batch_size  # the last partial batch is dropped
    total_steps = steps_per_epoch * args.epochs
    log.info("train %d, val %d, test %d images; %d steps/epoch x %d epochs = %d steps",
             len(train_images), len(data["val"][0]), len(data["test"][0]), steps_per_epoch, args.epochs, total_steps)

    model = GoogLeNetSeed(num_classes=len(CLASS_NAMES), aux=True).to(device).to(memory_format=torch.channels_last)
    model.train()
    optimizer = build_optimizer(model, args.lr, args.weight_decay)
    scheduler = build_scheduler(optimizer, args, total_steps)
    augment_generator = torch.Generator().manual_seed(args.seed + 12345)
    log.info("parameters: %d (%d without the aux heads)", sum(p.numel() for p in model.parameters()),
             sum(p.numel() for n, p in model.named_parameters() if not n.startswith("aux.")))

    state = {"recipe": {k: getattr(args, k) for k in RECIPE_KEYS}, "epoch": 0, "step_in_epoch": 0,
             "global_step": 0, "train_seconds": 0.0, "started_at": time.time(), "history": [], "commands": [command]}
    if resume_payload_state is not None:
        state = load_checkpoint(checkpoint_path, model, optimizer, scheduler, augment_generator)
        state["commands"].append(command)
        log.info("resumed at epoch %d step %d (global step %d)", state["epoch"], state["step_in_epoch"], state["global_step"])

    def checkpoint(reason):
        save_checkpoint(checkpoint_path, model, optimizer, scheduler, augment_generator, state)
        log.info("checkpoint (%s) at global step %d", reason, state["global_step"])

    session_start = time.time()
    session_start_step = state["global_step"]
    last_checkpoint = time.time()
    window = {"start": time.time(), "images": 0, "loss": 0.0, "correct": 0, "steps": 0}

    while state["epoch"] < args.epochs:
        epoch = state["epoch"]
        order = epoch_order(len(train_images), args.seed, epoch)
        for step_in_epoch in range(state["step_in_epoch"], steps_per_epoch):
            step_start = time.time()
            idx = order[step_in_epoch * args.batch_size : (step_in_epoch + 1) * args.batch_size]
            x = to_network_input(train_images[idx], None if args.no_augment else augment_generator).to(device)
            y = train_labels[idx].to(device)

            loss, logits = training_loss(model(x), y, args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
            optimizer.step()
            scheduler.step()
            if not math.isfinite(loss.item()):
                sys.exit(f"loss is {loss.item()} at global step {state['global_step']}; lower --lr")

            state["step_in_epoch"] = step_in_epoch + 1
            state["global_step"] += 1
            state["train_seconds"] += time.time() - step_start
            window["images"] += len(y)
            window["loss"] += loss.item()
            window["correct"] += (logits.argmax(1) == y).sum().item()
            window["steps"] += 1

            if state["global_step"] % args.log_every == 0 or state["global_step"] == total_steps:
                rate = window["images"] / (time.time() - window["start"])
                # The ETA uses the session's mean rate: the window's rate swings with the load on shared cores.
                session_rate = (state["global_step"] - session_start_step) * args.batch_size / (time.time() - session_start)
                eta = (total_steps - state["global_step"]) * args.batch_size / session_rate
                log.info("epoch %d/%d step %d/%d (global %d/%d) loss %.4f acc %.3f lr %.2e grad %.2f | %.1f img/s "
                         "(session mean %.1f), ETA %s",
                         epoch + 1, args.epochs, step_in_epoch + 1, steps_per_epoch, state["global_step"], total_steps,
                         window["loss"] / window["steps"], window["correct"] / window["images"],
                         scheduler.get_last_lr()[0], grad_norm.item(), rate, session_rate, format_duration(eta))
                window = {"start": time.time(), "images": 0, "loss": 0.0, "correct": 0, "steps": 0}

            if args.stop_after_steps and state["global_step"] >= args.stop_after_steps:
                checkpoint("stop requested")
                return
            if (args.checkpoint_every_steps and state["global_step"] % args.checkpoint_every_steps == 0) or (
                    time.time() - last_checkpoint > args.checkpoint_minutes * 60):
                checkpoint("periodic")
                last_checkpoint = time.time()

        val_acc, val_loss = evaluate(model, data["val"], device)
        log.info("end of epoch %d: val acc %.4f, val loss %.4f", epoch + 1, val_acc, val_loss)
        state["history"].append({"epoch": epoch + 1, "val_acc": val_acc, "val_loss": val_loss,
                                 "train_seconds": state["train_seconds"]})
        state["epoch"] = epoch + 1
        state["step_in_epoch"] = 0
        checkpoint("end of epoch")
        last_checkpoint = time.time()

    finish(args, model, data, device, state, session_start)


def finish(args, model, data, device, state, session_start):
    final = inference_model(model)
    weights_path = os.path.join(args.out, "model.pt")
    torch.save(final.state_dict(), weights_path)
    final = final.to(device).to(memory_format=torch.channels_last)
    val_acc, val_loss = evaluate(final, data["val"], device)
    log.info("final val acc %.4f (loss %.4f)", val_acc, val_loss)
    test_acc, test_loss = (None, None) if args.skip_test else evaluate(final, data["test"], device)
    if test_acc is not None:
        log.info("final TEST acc %.4f (loss %.4f)", test_acc, test_loss)

    onnx_path = os.path.join(args.out, "googlenet_seed_fmnist.onnx")
    export_onnx(inference_model(model), onnx_path)
    log.info("exported %s", onnx_path)

    summary = {
        "model": "GoogLeNetSeed (training/googlenet_seed.py), auxiliary heads dropped at export",
        "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist, " + DATA_DIR + ")",
        "class_names": CLASS_NAMES,
        "preprocessing": {
            "input": [1, 1, INPUT_SIZE, INPUT_SIZE],
            "resize": "28x28 -> 96x96 bilinear (align_corners=False, as torchvision Resize)",
            "scale": "pixel / 255",
            "mean": MEAN,
            "std": STD,
            "formula": "(pixel / 255 - mean) / std",
        },
        "recipe": {
            **state["recipe"],
            "optimizer": "AdamW (betas 0.9/0.999), no weight decay on biases",
            "schedule": "OneCycleLR per step: half-cosine warmup from lr/25 over warmup_fraction, then cosine anneal to lr/25000",
            "aux_loss_weight": AUX_LOSS_WEIGHT,
            "augmentation": "none" if state["recipe"]["no_augment"] else
                            f"random shift up to {MAX_SHIFT} px (at 28x28, zero fill), random horizontal flip",
            "threads": args.threads,
        },
        "accuracy": {"val": val_acc, "test": test_acc},
        "loss": {"val": val_loss, "test": test_loss},
        "history": state["history"],
        "train_seconds": round(state["train_seconds"], 1),
        "wall_seconds_since_first_start": round(time.time() - state["started_at"], 1),
        "steps": state["global_step"],
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commands": state["commands"],
        "torch": torch.__version__,
        "device": str(device),
        "files": {"weights": weights_path, "onnx": onnx_path},
        "onnx": {"opset": 13, "input": "input [batch,1,96,96], batch dynamic", "output": "logits [batch,10]"},
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    log.info("wrote %s (this session %s)", os.path.join(args.out, "summary.json"),
             format_duration(time.time() - session_start))


if __name__ == "__main__":
    main()
