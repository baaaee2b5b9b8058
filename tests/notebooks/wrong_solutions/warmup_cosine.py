"""Wrong answers to 05's learning-rate factor with a floor (warm-up, then cosine to final_factor)."""
import math

CHECK = "check_warmup_cosine"


def schedule(ramp=lambda s, w: (s + 1) / w, tail=None):
    def factor(step, total_steps, warmup_steps, final_factor=0.0):
        if step < warmup_steps:
            return ramp(step, warmup_steps)
        p = (step - warmup_steps) / (total_steps - warmup_steps)
        return tail(p, final_factor, step, total_steps)
    return factor


def no_warmup(step, total_steps, warmup_steps, final_factor=0.0):
    return final_factor + (1 - final_factor) * 0.5 * (1 + math.cos(math.pi * step / total_steps))


def right_tail(p, f, s, t):
    return f + (1 - f) * 0.5 * (1 + math.cos(math.pi * p))


WRONG = [("factor of 0", (schedule(ramp=lambda s, w: s / w, tail=right_tail),)),
         ("no warm-up", (no_warmup,)),
         ("floor is ignored", (schedule(tail=lambda p, f, s, t: 0.5 * (1 + math.cos(math.pi * p))),)),
         ("added on top", (schedule(tail=lambda p, f, s, t: f + 0.5 * (1 + math.cos(math.pi * p))),)),
         ("goes negative", (schedule(tail=lambda p, f, s, t: f + (1 - f) * math.cos(math.pi * p)),)),
         ("whole period", (schedule(tail=lambda p, f, s, t: f + (1 - f) * 0.5 * (1 + math.cos(2 * math.pi * p))),)),
         ("linear decay", (schedule(tail=lambda p, f, s, t: f + (1 - f) * (1 - p)),)),
         ("counted from step 0", (schedule(tail=lambda p, f, s, t: f + (1 - f) * 0.5 * (1 + math.cos(math.pi * s / t))),)),
         ("expected a number", (lambda s, t, w, f=0.0: [1.0],)),
         ("raised", (lambda s, t, w: 1.0,))]
