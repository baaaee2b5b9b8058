"""course_utils: the tested code behind "Vision Transformers from scratch, side by side with CNNs".

Each module holds one concept, in the order the notebooks introduce them:

    patches    image -> sequence of patches, and the patch embedding      (01_patches)
    attention  scaled dot-product and multi-head self-attention          (02_attention)
    vit        the Pre-LN transformer block and the VisionTransformer    (03_vit)
    cnn        LeNet-5 and a small modern CNN                            (04_cnn_baselines)
    models     build_model(name): one contract for every model          (04, 05, 06)
    data       MNIST / Fashion-MNIST / CIFAR-10 as tensors in memory     (05_training)
    train      train_step, fit, evaluate                                 (05_training)
    runtime    seed, device, mixed precision; speed: compile, channels-last, fused optimizer;
    checkpoints  atomic saves and safe loads                             (05_training)
    experiments  the resumable data-size sweep and its summaries        (06_dataset_size)
    analysis   attention rollout and distance, position embeddings, saliency  (06, 07)
    pretrained the shipped reference results and checkpoints            (05-08)
    plots      every figure the notebooks draw
    checks     the self-checks the exercises call, one module per notebook
    profiles   the run profile (quick / cpu / gpu) every notebook reads

Instructor tools (student edition, grader, notebook sync) are the separate package `course_admin`.

Shape letters used in every comment of the course:
    B batch   C channels   H, W image height and width   P patch size
    N tokens  D embedding width   h heads   d head width (D = h * d)   K classes

Nothing happens at import time: no seeding, no data loading, no matplotlib settings.
"""
from .attention import MultiHeadSelfAttention, scaled_dot_product_attention
from .cnn import LeNet5, SmallCNN
from .models import MODEL_NAMES, build_model, count_parameters
from .patches import PatchEmbedding, img_to_patch, patch_to_img
from .profiles import get_profile
from .vit import MLP, TransformerBlock, VisionTransformer, ViTConfig

try:
    from importlib.metadata import PackageNotFoundError, version
    __version__ = version("course_utils")
except PackageNotFoundError:   # run from a source folder that was never installed
    __version__ = "unknown"

REPO_URL = "https://github.com/vit-course/vit-from-scratch"   # the one place it is written; notebooks get it by `sync`
BRANCH = "main"
