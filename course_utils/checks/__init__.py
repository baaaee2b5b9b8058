"""Self-checks for the exercises, one module per notebook; `core` holds what they share with the grader.

Each check compares a student's code with the reference on several inputs and prints ONE line: a pass,
or what differs with a hint. It returns a CheckResult and, when $COURSE_CHECK_LOG names a file, appends the
result there as one JSON line (see `core`).
"""
from .core import CheckResult, report
from .nb01_patches import check_img_to_patch, check_img_to_patch_hwc, check_patch_embedding
from .nb02_attention import check_attention, check_multi_head_attention, check_split_heads
from .nb03_vit import check_transformer_block, check_vit
from .nb04_cnn import check_conv_output_size, check_lenet, check_lenet_flatten
from .nb05_training import check_digit_augmentation, check_train_step, check_warmup_cosine
from .nb06_dataset_size import check_mean_std, check_run_epochs
from .nb07_inside import check_attention_rollout, check_mean_attention_distance
from .nb08_gap import check_distillation_loss, check_shifted_images
