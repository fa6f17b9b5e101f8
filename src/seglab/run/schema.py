"""Every config key users can set: its type and range (checked by ``seglab.run.validate``
right after composition) and one line of meaning. The documentation's key reference
(``docs/reference/config-keys.md``) is generated from this table and the composed
defaults (``seglab.dev.config_reference``), and a test fails when a key composed by
default has no entry here, so a new key cannot go undocumented.

A rule of ``None``: seglab does not check the value itself (Lightning, W&B, Hydra or the
code that reads it does); the reference gives the type of its default instead.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple

from pydantic import Field, Strict, StrictBool

from seglab.training.losses import NORMALIZATIONS, TARGET_RESOLUTIONS


class Key(NamedTuple):
    """A config key's rule (a pydantic type, or ``None``: not checked here) and meaning."""

    rule: Any
    meaning: str


# strict numbers: true / false are not 1 / 0 here (model.optimizer.lr=true is a mistake)
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Integer = Annotated[int, Strict()]
Positive = Annotated[Number, Field(gt=0)]
NonNegative = Annotated[Number, Field(ge=0)]
Fraction = Annotated[Number, Field(ge=0, le=1)]
Below1 = Annotated[Number, Field(ge=0, lt=1)]
PositiveInt = Annotated[Integer, Field(ge=1)]
NonNegativeInt = Annotated[Integer, Field(ge=0)]
Size = tuple[PositiveInt, PositiveInt]  # (H, W)
Rgb = tuple[Number, Number, Number]
Batches = NonNegativeInt | Fraction  # a number of batches, or a fraction of the split

KEYS: dict[str, Key] = {
    # top level (conf/train.yaml, eval.yaml, predict.yaml, export.yaml)
    "seed": Key(
        NonNegativeInt, "seeds weights, data order and augmentation (Lightning's seed_everything)"
    ),
    "test": Key(
        StrictBool | Literal["auto"] | None,
        "after fitting, test data.test_split on the best checkpoint; auto: where the split exists",
    ),
    "stop_after_epochs": Key(
        PositiveInt | None,
        "end this invocation after N epochs, keeping trainer.max_epochs's schedule (time slices)",
    ),
    "threads": Key(
        PositiveInt | None,
        "torch threads of a job; default: the cores / the parallel launcher's n_jobs, else all",
    ),
    "matmul_precision": Key(
        Literal["highest", "high", "medium"],
        "seglab-train / -eval: torch.set_float32_matmul_precision; high / medium: TF32 on Ampere+",
    ),
    "channels_last": Key(
        StrictBool,
        "NHWC memory format: faster convolutions at mixed precision (seglab-predict: on CPU)",
    ),
    "device": Key(
        Literal["auto", "cpu", "cuda"] | Annotated[str, Field(pattern=r"^cuda:\d+$")],
        "seglab-predict backend=pytorch: where the model runs; auto: CUDA when available",
    ),
    "sliding_overlap": Key(
        Below1, "seglab-predict: fraction of a sliding_window tile shared with its neighbour"
    ),
    "overlay_alpha": Key(
        Fraction,
        "seglab-predict: weight of the class colours in <name>_overlay.png (0: image only)",
    ),
    "label_ids": Key(
        StrictBool,
        "seglab-predict: also write labelIds/<name>.png in the data set's own ids (Cityscapes)",
    ),
    "tta_scales": Key(
        list[Positive] | None,
        "seglab-eval / seglab-predict: test-time scales replacing the checkpoint's; null: its own",
    ),
    "tta_flip": Key(
        StrictBool | None,
        "seglab-eval / seglab-predict: also average flipped views; null: as the checkpoint's model",
    ),
    "eval_mode": Key(
        Literal["whole", "slide"] | None,
        "seglab-eval: whole frames or sliding windows, replacing the checkpoint's; null: its own",
    ),
    "slide.crop": Key(
        Size | None, "seglab-eval: sliding window (H, W) replacing the checkpoint's model.slide"
    ),
    "slide.stride": Key(
        Size | None,
        "seglab-eval: sliding window step (H, W) replacing the checkpoint's model.slide",
    ),
    "backend": Key(
        Literal["auto", "pytorch", "onnxruntime"],
        "seglab-predict: pytorch (checkpoint) or onnxruntime (ONNX file); auto: by which is given",
    ),
    "use_crf": Key(
        StrictBool, "seglab-predict backend=onnxruntime: apply the CRF in the ONNX file's metadata"
    ),
    # conf/export.yaml
    "format": Key(
        Literal["onnx", "torchscript"], "seglab-export: write an ONNX file or a TorchScript module"
    ),
    "height": Key(
        PositiveInt,
        "seglab-export: example input height in pixels (with dynamic=false the only one accepted)",
    ),
    "width": Key(
        PositiveInt,
        "seglab-export: example input width in pixels (with dynamic=false the only one accepted)",
    ),
    "dynamic": Key(
        StrictBool,
        "seglab-export: any height and width the network takes; false: height x width only",
    ),
    "check": Key(
        StrictBool,
        "seglab-export: check against PyTorch at two sizes, limit 1e-4 (ONNX) / 1e-5 (TorchScript)",
    ),
    # data/
    "data.batch_size": Key(
        PositiveInt, "images per optimisation step, global: divided across DDP devices"
    ),
    "data.eval_batch_size": Key(
        PositiveInt, "images per validation / test batch, global; 1 where image sizes differ"
    ),
    "data.num_workers": Key(
        NonNegativeInt, "DataLoader worker processes per device; 0: load in the main process"
    ),
    "data.num_classes": Key(
        PositiveInt, "classes the network predicts (the ignore label not counted)"
    ),
    "data.ignore_index": Key(
        Integer, "label value left out of loss and metrics (void); crops are padded with it"
    ),
    "data.crop_size": Key(
        Size | None,
        "training input (H, W) in pixels, read by data.train_augment; evaluation is at full size",
    ),
    "data.image_size": Key(
        Size | None, "data=synthetic: size (H, W) of the generated frames, in pixels"
    ),
    "data.mean": Key(
        Rgb | None, "per-channel mean replacing data.input_space's, in its channel order and scale"
    ),
    "data.std": Key(
        tuple[Positive, Positive, Positive] | None,
        "per-channel std replacing data.input_space's, in its channel order and scale",
    ),
    "data.input_space": Key(
        Literal["rgb_imagenet", "caffe_bgr255"],
        "input convention: rgb_imagenet (torchvision weights) or caffe_bgr255 (Caffe weights)",
    ),
    "data.on_bad_sample": Key(
        Literal["error", "skip"],
        "error: stop at an unreadable or mismatched sample; skip: leave it out, warned",
    ),
    "data.cache": Key(
        StrictBool, "keep every decoded sample in memory after its first read (small data sets)"
    ),
    "data.holdout_frames": Key(
        NonNegativeInt,
        "train frames held out of training as split train_holdout (to tune the CRF on)",
    ),
    "data.holdout_seed": Key(
        NonNegativeInt, "chooses which frames data.holdout_frames holds out (not the run's seed)"
    ),
    "data.val_fraction": Key(
        Annotated[Number, Field(gt=0, lt=1)] | None,
        "data=folder without data.split_lists: share of stems validated on (data.split_seed)",
    ),
    "data.mask_format": Key(
        Literal["auto", "rgb", "index"],
        "data=folder: masks hold class colours (rgb) or indices (index); auto: RGB files colours",
    ),
    "data.class_weights": Key(
        list[NonNegative] | None,
        "loss weights per class, used by model.loss.class_weights='${data.class_weights}'",
    ),
    # data/train_augment/
    "data.train_augment.scale": Key(
        tuple[Positive, Positive] | None,
        "random rescale factors [low, high] before the crop; null: no rescale",
    ),
    "data.train_augment.flip": Key(Fraction, "probability of a horizontal flip"),
    "data.train_augment.jitter": Key(
        NonNegative, "colour jitter strength (brightness, contrast, saturation; hue / 10); 0: none"
    ),
    # model/
    "model.optimizer.lr": Key(
        Positive, "base learning rate; model.param_groups multiply it, the scheduler scales it"
    ),
    "model.optimizer.momentum": Key(
        Below1, "SGD momentum (FCN's reference solver: 0.99; DeepLab: 0.9)"
    ),
    "model.optimizer.weight_decay": Key(
        NonNegative, "L2 weight decay, times each parameter group's decay_mult"
    ),
    "model.optimizer.rho": Key(
        Below1, "Adadelta: decay of its running averages of squared gradients and updates"
    ),
    "model.optimizer.eps": Key(
        Positive, "Adadelta: term added to its denominators for numerical stability"
    ),
    "model.scheduler.power": Key(
        Positive, "model/scheduler=poly: lr x (1 - step / total_steps) ** power, every step"
    ),
    "model.scheduler.step_size": Key(
        PositiveInt, "model/scheduler=step: lr times gamma every step_size optimizer steps"
    ),
    "model.scheduler.gamma": Key(
        Positive, "model/scheduler=step: factor applied to the lr every step_size steps"
    ),
    "model.scheduler.pct_start": Key(
        Annotated[Number, Field(gt=0, lt=1)],
        "model/scheduler=onecycle: fraction of the run warming up to the peak lr",
    ),
    "model.crf_val": Key(
        Literal["every", "last"],
        "with a CRF: refine every validation or only the last epoch's; test/eval/predict: always",
    ),
    "model.aux_loss_weight": Key(
        NonNegative, "weight of the auxiliary head's loss (with model/aux_head=conv)"
    ),
    "model.replan_schedule": Key(
        StrictBool,
        "resumed with a new run length: re-plan the poly schedule (false: keep it, warned)",
    ),
    "model.tta_scales": Key(
        list[Positive],
        "test-time augmentation: softmax averaged over these input scales (never in training)",
    ),
    "model.tta_flip": Key(
        StrictBool,
        "test-time augmentation: also average horizontally flipped views (never in training)",
    ),
    "model.eval_mode": Key(
        Literal["whole", "slide"],
        "evaluation: whole frames in one pass, or slide: model.slide windows, scores averaged",
    ),
    "model.slide.crop": Key(
        Size | None, "model.eval_mode=slide: window (H, W) in pixels (mmseg Cityscapes: 769x769)"
    ),
    "model.slide.stride": Key(
        Size | None,
        "model.eval_mode=slide: window step (H, W), at most the crop; null: 2/3 of the crop",
    ),
    "model.net.msc_scales": Key(
        Annotated[list[Positive], Field(min_length=1)],
        "DeepLab v2 MSc: input scales the net runs on, logits fused by max; [1.0]: off",
    ),
    "model.net.backbone.width": Key(
        Positive, "channel multiplier of VGG16 / U-Net (0.125 for CPU runs)"
    ),
    "model.net.backbone.batch_norm": Key(
        StrictBool, "BN after every conv of VGG16 / U-Net (lets small models train from scratch)"
    ),
    "model.net.backbone.dropout": Key(
        Below1, "VGG16: dropout after fc6 and fc7; U-Net: at the end of the contracting path"
    ),
    "model.net.backbone.output_stride": Key(
        Literal[8, 16, 32], "input size / feature map size; 8 and 16 dilate the last stages"
    ),
    "model.net.backbone.bn_momentum": Key(
        Fraction | None,
        "every backbone BN's momentum (1 - TF decay; DeepLab v3: 0.0003); null: 0.1",
    ),
    "model.net.backbone.freeze": Key(
        StrictBool,
        "freeze the whole trunk: out of the optimizer, eval mode (give pretrained weights)",
    ),
    "model.net.backbone.freeze_bn": Key(
        StrictBool, "BN layers in eval mode and out of the optimizer (DeepLab v2)"
    ),
    "model.net.head.rates": Key(
        Annotated[list[PositiveInt], Field(min_length=1)],
        "DeepLab v2 / v3 ASPP atrous rates (v3: for output stride 16, scaled at 8)",
    ),
    "model.net.head.rate": Key(PositiveInt, "DeepLab v1 LargeFOV: atrous rate of fc6"),
    "model.net.head.rate_scale": Key(
        Positive, "multiplies the atrous rates; below 1 for feature maps smaller than 41x41"
    ),
    "model.net.head.learnable_upsampling": Key(
        StrictBool, "FCN: train the bilinear-initialised upsampling (the papers freeze it)"
    ),
    "model.net.head.upsampling": Key(
        Literal["transposed", "bilinear"],
        "U-Net decoder: 2x2 transposed conv (the paper) or bilinear + 1x1 conv",
    ),
    "model.net.head.skip_scales": Key(
        tuple[Positive, Positive] | None,
        "FCN: factors on the skips' features before scoring ('at once' FCN-8s)",
    ),
    "model.loss.target_resolution": Key(
        Literal[TARGET_RESOLUTIONS],
        "logits smaller than labels: upsample the logits, or shrink the labels (v1/v2)",
    ),
    "model.loss.normalization": Key(
        Literal[NORMALIZATIONS],
        "valid: mean over labelled pixels; batch: pixel sum / batch size (Caffe, FCN)",
    ),
    "model.loss.class_weights": Key(
        list[NonNegative] | None,
        "per-class loss weights, one per class; '${data.class_weights}': the data set's",
    ),
    "model.net.head.dropout": Key(
        Below1, "head dropout: DeepLab v1/v2 after fc6 and fc7, v3/v3+ after the ASPP projection"
    ),
    "model.net.head.hidden_channels": Key(
        PositiveInt | None, "DeepLab v1/v2 fc6 / fc7 channels; v2 null: one 3x3 conv per rate"
    ),
    "model.net.head.low_level": Key(
        None, "DeepLab v3+: the stride-4 backbone feature its decoder fuses (c2)"
    ),
    "model.net.head.low_level_channels": Key(
        PositiveInt, "DeepLab v3+: channels of the low-level projection (paper: 48)"
    ),
    "model.net.head.decoder_channels": Key(
        PositiveInt | Annotated[list[PositiveInt], Field(min_length=1)] | None,
        "DeepLab v3+: its decoder convs' channels (256); U-Net: one per stage (null: the paper's)",
    ),
    "model.net.head.separable": Key(
        StrictBool, "DeepLab v3+: atrous separable convs in the ASPP and decoder (Xception's)"
    ),
    "model.net.aux_head.dropout": Key(
        Below1, "model/aux_head=conv: dropout before its 1x1 classifier"
    ),
    "model.net.aux_head.reduction": Key(
        PositiveInt, "model/aux_head=conv: its hidden channels are the input's / reduction"
    ),
    # crf/
    "model.crf.iterations": Key(PositiveInt, "mean-field iterations"),
    "model.crf.gaussian_weight": Key(
        NonNegative, "weight w of the smoothness (position-only) kernel"
    ),
    "model.crf.gaussian_sxy": Key(
        Positive, "smoothness kernel's spatial std, theta-gamma, in pixels"
    ),
    "model.crf.bilateral_weight": Key(
        NonNegative, "weight w of the appearance (position + colour) kernel"
    ),
    "model.crf.bilateral_sxy": Key(
        Positive, "appearance kernel's spatial std, theta-alpha, in pixels"
    ),
    "model.crf.bilateral_srgb": Key(
        Positive, "appearance kernel's colour std, theta-beta, in intensity levels"
    ),
    "model.crf.workers": Key(
        NonNegativeInt,
        "crf=dense: processes per rank refining a batch's images (0: in this process)",
    ),
    "model.crf.downsample": Key(
        PositiveInt,
        "crf=torch: mean field on a grid this much coarser; 1: full resolution, ~10x slower",
    ),
    "model.crf.chunk": Key(
        PositiveInt, "crf=torch: images per lattice (peak memory ~55 MB per 360x480 frame)"
    ),
    # trainer/
    "trainer.accelerator": Key(
        Literal["cpu", "gpu", "cuda", "mps", "tpu", "auto"],
        "hardware to train on (trainer=cpu|gpu|ddp set it); auto: what is there",
    ),
    "trainer.devices": Key(
        PositiveInt | Literal["auto", -1] | list[NonNegativeInt],
        'devices per node: a count, "auto" or a list of indices',
    ),
    "trainer.num_nodes": Key(PositiveInt, "machines of a DDP run (SLURM: the nodes of each job)"),
    "trainer.precision": Key(
        Literal[
            "32-true", "32", 32, "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", 64
        ],
        "numeric precision: 32-true; bf16-mixed / 16-mixed: autocast, faster; *16-true: pure half",
    ),
    "trainer.max_epochs": Key(
        Annotated[Integer, Field(ge=-1)],
        "epochs to train (-1: no limit, stop at max_steps); schedules plan for it",
    ),
    "trainer.max_steps": Key(
        Annotated[Integer, Field(ge=-1)],
        "stop after this many optimizer steps (-1: no limit); the papers count these",
    ),
    "trainer.limit_train_batches": Key(
        Batches, "training batches per epoch: a fraction of the split or a count"
    ),
    "trainer.limit_val_batches": Key(
        Batches, "validation batches per validation: a fraction of the split or a count"
    ),
    "trainer.limit_test_batches": Key(Batches, "test batches: a fraction of the split or a count"),
    "trainer.accumulate_grad_batches": Key(
        PositiveInt, "batches whose gradients make one optimizer step (batch_size x N per step)"
    ),
    "trainer.check_val_every_n_epoch": Key(
        PositiveInt | None, "validate every N epochs; null: by trainer.val_check_interval alone"
    ),
    "trainer.log_every_n_steps": Key(
        PositiveInt, "log step metrics (train/loss, lr) every N training steps"
    ),
    "trainer.num_sanity_val_steps": Key(
        Annotated[Integer, Field(ge=-1)],
        "validation batches run before training to catch errors (-1: all)",
    ),
    "trainer.gradient_clip_val": Key(
        NonNegative | None, "clip the gradients' norm to this; null: no clipping"
    ),
    "trainer.deterministic": Key(
        StrictBool | Literal["warn"],
        'deterministic algorithms only (true), or warn where one is not ("warn")',
    ),
    "trainer.benchmark": Key(
        StrictBool | None,
        "cudnn.benchmark: time conv algorithms once, fastest for fixed input sizes",
    ),
    # callbacks/ and logger/
    "callbacks.model_checkpoint.save_top_k": Key(
        Annotated[Integer, Field(ge=-1)],
        "best checkpoints kept by the monitored metric (-1: all, 0: none)",
    ),
    "callbacks.model_checkpoint.mode": Key(
        Literal["max", "min"], "max: a higher monitored value is better (mIoU); min for a loss"
    ),
    "callbacks.wandb_dashboard.log_images": Key(
        NonNegativeInt, "validation images (prediction + truth masks) sent to W&B per epoch"
    ),
    "logger.wandb.project": Key(
        Annotated[str, Field(min_length=1)], "the W&B project runs are logged to"
    ),
    # hydra/launcher=slurm|submitit_local
    "hydra.launcher.cpus_per_task": Key(
        PositiveInt | None,
        "CPUs per task (loader workers + main process); PyTorch uses as many threads",
    ),
    "hydra.launcher.timeout_min": Key(
        PositiveInt, "a sweep job's time limit, in minutes (SLURM: --time)"
    ),
    "hydra.launcher.mem_gb": Key(
        Positive | None, "memory per node in GB (SLURM --mem); null: the partition's default"
    ),
    "hydra.launcher.signal_delay_s": Key(
        NonNegativeInt, "SIGUSR2 this many seconds before the time limit: save last.ckpt, requeue"
    ),
    "hydra.launcher.max_num_timeout": Key(
        NonNegativeInt, "requeues of a job after time limits (preemptions do not count)"
    ),
    "hydra.launcher.n_jobs": Key(
        Annotated[Integer, Field(ge=-1)],
        "hydra/launcher=parallel: sweep jobs run at once on this machine (-1: per core)",
    ),
    "hydra.sweeper.n_trials": Key(
        PositiveInt, "hparams_search=optuna: trials this invocation runs (the study continues)"
    ),
    # ---- not checked here: Lightning, W&B, Hydra or the code that reads them check them
    # top level
    "run_name": Key(
        None, "W&B run name; sweep jobs are named by their swept values, eval runs eval-<run name>"
    ),
    "group": Key(
        None, "W&B group; a sweep's jobs default to the sweep folder's name (eval: the run's group)"
    ),
    "tags": Key(None, "W&B tags of the run"),
    "resume": Key(
        None,
        "resume=<run folder>: continue it from last.ckpt; in a sweep (-m), true: unfinished jobs",
    ),
    "ckpt_path": Key(
        None,
        "train: resume from this checkpoint (in a run folder: that run); other commands: the model",
    ),
    "optimized_metric": Key(
        None,
        "metric whose final value seglab-train returns to Hydra sweepers (Optuna maximises it)",
    ),
    "compile": Key(
        None, "torch.compile the network: true, or its options (e.g. {mode: max-autotune})"
    ),
    "run_id": Key(
        None, "set by seglab-train / seglab-eval: the W&B run id (kept across resumes); do not set"
    ),
    "split": Key(None, "seglab-eval: evaluate on the val or the test split"),
    "job_type": Key(
        None,
        "seglab-eval: the W&B job type of the evaluation's run (read by logger.wandb.job_type)",
    ),
    "onnx": Key(
        None, "seglab-predict: ONNX file from seglab-export (give it as model=<file.onnx>)"
    ),
    "input": Key(
        None, "seglab-predict: an image file, a folder of images or a glob such as 'photos/*.jpg'"
    ),
    "output": Key(
        None, "seglab-predict: folder for the <name>_labels / _color / _overlay.png files"
    ),
    "sliding_window": Key(
        None, "seglab-predict: tile (H, W) in pixels for larger images; null: whole image at once"
    ),
    "out": Key(
        None, "seglab-export: file to write; null: next to the checkpoint (.onnx / .torchscript.pt)"
    ),
    # data/
    "data.root": Key(
        None, "the data set's folder (default under paths.data_dir; data=synthetic: none)"
    ),
    "data.class_names": Key(
        None, "one name per class: metric names, tables, W&B (data=folder: from classes.yaml)"
    ),
    "data.class_colors": Key(
        None, "one [r, g, b] per class: colour masks, W&B, predict, RGB masks; null: generated"
    ),
    "data.train_split": Key(
        None, "split trained on (e.g. VOC's train_aug; Cityscapes' train_extra with gtCoarse)"
    ),
    "data.val_split": Key(None, "split validated on during training"),
    "data.test_split": Key(
        None, "split test=true / auto tests (val where the test labels are not public)"
    ),
    "data.seed": Key(
        None, "from seed; seeds training order, loader workers and synthetic frames: set seed"
    ),
    "data.eval_augment": Key(
        None, "transform of val / test samples (albumentations Compose); null: as stored"
    ),
    "data.name": Key(None, "the data set's name in messages (each data config sets it)"),
    "data.lengths.train": Key(None, "data=synthetic: generated frames in the train split"),
    "data.lengths.val": Key(None, "data=synthetic: generated frames in the val split"),
    "data.lengths.test": Key(None, "data=synthetic: generated frames in the test split"),
    # model/
    "model.net.aux_head": Key(
        None, "auxiliary head, training only: model/aux_head=conv (stride-16 map) or none"
    ),
    "model.net.backbone.pooling": Key(
        None, "VGG16 pools: fcn (2x2 rounding up, stride 32) or deeplab (3x3, allows 8 / 16)"
    ),
    "model.net.backbone.conv1_padding": Key(
        None, "VGG16 conv1_1 padding in pixels: 100 (FCN: any input survives fc6) or 1"
    ),
    "model.net.backbone.fc_channels": Key(
        None, "VGG16 fc6 / fc7 channels (times width); 0: no fc layers (DeepLab, ReSeg)"
    ),
    "model.net.backbone.fc6_kernel": Key(
        None, "VGG16 fc6 kernel size: 7 (FCN's convolutionalised fc6) or 3 (compact)"
    ),
    "model.net.backbone.fc6_padding": Key(None, "VGG16 fc6 padding in pixels"),
    "model.net.backbone.pretrained": Key(
        None, "imagenet (torchvision's weights) or a weights file; null: random init"
    ),
    "model.net.head.num_classes": Key(None, "from data.num_classes; set that instead"),
    "model.net.head.feature": Key(
        None, "backbone feature the head reads: out (the last map) or a tap such as c4"
    ),
    "model.net.head.skips": Key(
        None, "backbone features joined in: FCN [c4] (16s), [c4, c3] (8s); U-Net's skips"
    ),
    "model.loss.ignore_index": Key(None, "from data.ignore_index; set that instead"),
    "model.loss.unet_weight_map": Key(
        None, "U-Net's border weight map: {w0, sigma, background}; null: off"
    ),
    "model.num_classes": Key(None, "from data.num_classes; set that instead"),
    "model.ignore_index": Key(None, "from data.ignore_index; set that instead"),
    "model.class_names": Key(None, "from data.class_names; set that instead"),
    "model.param_groups": Key(
        None, "lr / decay multiplier rules {params, kind, lr_mult, decay_mult}; first match wins"
    ),
    "model.init_from": Key(
        None, "staged training: start from an earlier stage's checkpoint (FCN-16s from FCN-32s)"
    ),
    "model.crf": Key(
        None,
        "CRF on the softmax in val/test/eval/predict: crf=dense|torch|...; null: none (crf=off)",
    ),
    # trainer/
    "trainer.default_root_dir": Key(
        None, "from paths.output_dir: the run folder; set hydra.run.dir instead"
    ),
    "trainer.max_time": Key(
        None, 'stop and save after this wall time ("DD:HH:MM:SS"), e.g. before a job\'s limit'
    ),
    "trainer.val_check_interval": Key(
        None, "validate within an epoch: a fraction of it or a number of batches"
    ),
    "trainer.use_distributed_sampler": Key(
        None, "keep false: seglab shards data across ranks itself"
    ),
    "trainer.plugins": Key(
        None, "Lightning plugins; AtomicCheckpointIO writes then renames: no truncated checkpoint"
    ),
    # callbacks/
    "callbacks.model_checkpoint.dirpath": Key(
        None, "folder of the best checkpoints (<run folder>/checkpoints)"
    ),
    "callbacks.model_checkpoint.filename": Key(
        None, "best checkpoint's file name pattern (epoch and val mIoU)"
    ),
    "callbacks.model_checkpoint.auto_insert_metric_name": Key(
        None, "false: the filename pattern names its metrics itself"
    ),
    "callbacks.model_checkpoint.monitor": Key(
        None, "metric that picks the best checkpoint (test runs on that one)"
    ),
    "callbacks.model_checkpoint.save_last": Key(
        None, "false: callbacks.last_checkpoint writes last.ckpt instead"
    ),
    "callbacks.last_checkpoint.dirpath": Key(
        None, "folder of last.ckpt, which resume= continues from"
    ),
    "callbacks.last_checkpoint.filename": Key(None, "last: the name resume= looks for; keep it"),
    "callbacks.last_checkpoint.monitor": Key(
        None, "null: no metric, so last.ckpt is written after every validation"
    ),
    "callbacks.last_checkpoint.save_top_k": Key(
        None, "1: one last.ckpt, replaced after every validation"
    ),
    "callbacks.last_checkpoint.enable_version_counter": Key(
        None, "false: overwrite last.ckpt, never last-v1.ckpt"
    ),
    "callbacks.progress_bar": Key(
        None, "Rich progress bar; ~callbacks.progress_bar turns it off (cluster logs)"
    ),
    "callbacks.rng_state": Key(
        None,
        "RNG states in checkpoints: a resume draws as an unbroken run; ~callbacks.rng_state: off",
    ),
    "callbacks.finite_loss": Key(
        None,
        "stop at a non-finite loss, saving a checkpoint to debug; ~callbacks.finite_loss: off",
    ),
    "callbacks.graceful_stop": Key(
        None, "SIGTERM / SIGINT / SIGUSR2: finish the step, save last.ckpt, exit 128 + signal"
    ),
    "callbacks.throughput": Key(
        None, "logs train/img_per_s every epoch; ~callbacks.throughput turns it off"
    ),
    "callbacks.epoch_summary": Key(
        None, "one line per epoch in train.log and on the console; ~callbacks.epoch_summary: off"
    ),
    "callbacks.phase_times": Key(
        None,
        "wall seconds of each phase and the CRF in train.log; ~callbacks.phase_times: off",
    ),
    # logger/
    "logger.wandb.save_dir": Key(
        None, "from paths.output_dir: W&B's files go to <run folder>/wandb"
    ),
    "logger.wandb.offline": Key(
        None, "log to local files only (upload: wandb sync); online only with WANDB_MODE=online"
    ),
    "logger.wandb.entity": Key(
        None, "W&B user or team owning the project; null: your default entity"
    ),
    "logger.wandb.name": Key(None, "from run_name; set that instead"),
    "logger.wandb.group": Key(None, "from group; set that instead"),
    "logger.wandb.tags": Key(None, "from tags; set that instead"),
    "logger.wandb.id": Key(
        None, "from run_id, kept across resumes so a resume continues the W&B run"
    ),
    "logger.wandb.resume": Key(None, "W&B's resume mode: allow continues the run of the same id"),
    "logger.wandb.log_model": Key(
        None, "upload checkpoints to W&B as artifacts (true: at the end, all: each one)"
    ),
    "logger.wandb.job_type": Key(None, "from job_type: train (seglab-train) or eval (seglab-eval)"),
    "logger.csv.save_dir": Key(
        None, "from paths.output_dir: the CSV logger writes under the run folder"
    ),
    "logger.csv.name": Key(None, "subfolder of the run folder for metrics.csv and hparams.yaml"),
    "logger.csv.version": Key(
        None, 'version subfolder; "": none, so the files are in <run folder>/csv/'
    ),
    # paths/
    "paths.data_dir": Key(None, "where data sets' default roots are ($SEGLAB_DATA_DIR, else data)"),
    "paths.log_dir": Key(
        None, "where outputs/, multirun/ and debug/ go ($SEGLAB_LOG_DIR, else the current folder)"
    ),
    "paths.output_dir": Key(
        None, "this run's folder (Hydra's output dir); set hydra.run.dir instead"
    ),
}

# the rules seglab.run.validate checks
SCHEMA: dict[str, Any] = {key: k.rule for key, k in KEYS.items() if k.rule is not None}
