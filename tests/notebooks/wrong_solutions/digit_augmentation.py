"""Wrong answers to 05's augmentation for digits."""
import math

from course_utils.data import BatchAugment

CHECK = "check_digit_augmentation"
WRONG = [("mirrors digits", (lambda: BatchAugment(degrees=10, translate=0.1, scale=(0.9, 1.1), hflip=True),)),
         ("radians", (lambda: BatchAugment(degrees=math.radians(10), translate=0.1, scale=(0.9, 1.1)),)),
         ("too large", (lambda: BatchAugment(degrees=45, translate=0.1, scale=(0.9, 1.1)),)),
         ("not pixels", (lambda: BatchAugment(degrees=10, translate=3, scale=(0.9, 1.1)),)),
         ("changes nothing", (lambda: BatchAugment(),)),
         ("zooms too far", (lambda: BatchAugment(degrees=10, translate=0.1, scale=(0.5, 1.5)),)),
         ("expected a BatchAugment", (lambda: dict(degrees=10),))]
