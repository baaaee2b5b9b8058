"""Wrong answers to 02's split and merge of the heads."""
CHECK = "check_split_heads"


def split(x, h):
    B, N, D = x.shape
    return x.reshape(B, N, h, D // h).transpose(1, 2)


def merge(x):
    B, h, N, d = x.shape
    return x.transpose(1, 2).reshape(B, N, h * d)


def split_plain_reshape(x, h):
    B, N, D = x.shape
    return x.reshape(B, h, N, D // h)


def split_four_heads(x, h):                   # num_heads typed in
    B, N, D = x.shape
    return x.reshape(B, N, 4, D // 4).transpose(1, 2)


def split_no_transpose(x, h):
    B, N, D = x.shape
    return x.reshape(B, N, h, D // h)


def split_float32(x, h):
    return split(x, h).float()


def merge_view(x):                            # .view after a transpose
    B, h, N, d = x.shape
    return x.transpose(1, 2).view(B, N, h * d)


def merge_plain_reshape(x):
    B, h, N, d = x.shape
    return x.reshape(B, N, h * d)


def merge_wrong_order(x):                     # channels of a token ordered (d, h)
    B, h, N, d = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, N, h * d)


WRONG = [("hands whole tokens to one head", (split_plain_reshape, merge)),
         ("d = D // num_heads", (split_four_heads, merge)),
         ("four axes", (lambda x, h: x, merge)),
         ("(B, h, N, d)", (split_no_transpose, merge)),
         ("keep the dtype", (split_float32, merge)),
         (".reshape", (split, merge_view)),
         ("heads axis moved back", (split, merge_plain_reshape)),
         ("channels are in another order", (split, merge_wrong_order))]
