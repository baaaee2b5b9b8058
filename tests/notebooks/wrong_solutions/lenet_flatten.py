"""Wrong answers to the LeNet flatten size."""
import numpy as np
import torch

CHECK = "check_lenet_flatten"
WRONG = [("without the first conv's padding", (256,)), ("14x14 to 10x10", (784,)), ("two conv-pool stages", (1176,)),
         ("expected one number", (torch.zeros(2, 400),)), ("whole number", ("400",)),
         ("not right", (np.int64(401),)), ("16 channels", (25,))]
