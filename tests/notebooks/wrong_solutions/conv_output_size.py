"""Wrong answers to 04's conv_output_size(size, kernel_size, stride, padding, dilation, ceil_mode)."""
import math

CHECK = "check_conv_output_size"


def right_floor(n, k, s=1, p=0, d=1, ceil_mode=False):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


WRONG = [("return an int", (lambda n, k, s=1, p=0, d=1, c=False: (n + 2 * p - d * (k - 1) - 1) / s + 1,)),
         ("add 1", (lambda n, k, s=1, p=0, d=1, c=False: (n + 2 * p - d * (k - 1) - 1) // s,)),
         ("BOTH sides", (lambda n, k, s=1, p=0, d=1, c=False: (n + p - d * (k - 1) - 1) // s + 1,)),
         ("padding is missing", (lambda n, k, s=1, p=0, d=1, c=False: (n - d * (k - 1) - 1) // s + 1,)),
         ("stride is missing", (lambda n, k, s=1, p=0, d=1, c=False: n + 2 * p - d * (k - 1),)),
         ("dilation is ignored", (lambda n, k, s=1, p=0, d=1, c=False: (n + 2 * p - k) // s + 1,)),
         ("not d*k", (lambda n, k, s=1, p=0, d=1, c=False: (n + 2 * p - d * k) // s + 1,)),
         ("ceil_mode=True is ignored", (right_floor,)),
         ("not a ceiling", (lambda n, k, s=1, p=0, d=1, c=False:
                            (n + 2 * p - d * (k - 1) - 1) // s + (2 if c else 1),)),
         ("not a ceiling", (lambda n, k, s=1, p=0, d=1, c=False:
                      (round((n + 2 * p - d * (k - 1) - 1) / s + 0.5) if c else (n + 2 * p - d * (k - 1) - 1) // s) + 1,)),
         ("rounds up", (lambda n, k, s=1, p=0, d=1, c=False: math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1,)),
         ("round down", (lambda n, k, s=1, p=0, d=1, c=False: round((n + 2 * p - d * (k - 1) - 1) / s) + 1,)),
         ("positional argument", (lambda n, k, s=1, p=0: (n + 2 * p - k) // s + 1,)),
         ("expected an int", (lambda n, k, s=1, p=0, d=1, c=False: str(right_floor(n, k, s, p, d)),)),
         ("PyTorch gives", (lambda n, k, s=1, p=0, d=1, c=False: {28: 28, 14: 10}.get(n, 5),))]
