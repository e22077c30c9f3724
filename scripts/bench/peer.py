"""The PyTorch peer of Pairwise's model, for scripts/bench/peer.ts.

The same GPT-2 style policy as src/model/transformer.ts (pre-LayerNorm blocks, causal multi-head
attention, GELU(tanh), learned positions, LM head tied to the token embedding, a scalar value head),
the same PPO-shaped training step as src/learn/ppo.ts (clipped surrogate over token log-probs plus
a clipped value loss, backward, global-norm clipping, Adam) and the same KV-cached sampling as
src/model/generate.ts (all candidates in one batch, temperature and top-p).

It serves the runner over a pipe: one JSON request per stdin line, one JSON answer per stdout line,
and times only its own work, so the pipe never counts. Shapes and hyperparameters come in the
requests: the runner names each once.

Run by peer.ts; by hand: echo '{"op": "hello"}' | python3 scripts/bench/peer.py
"""

import json
import math
import sys
import time

INSTALL_HINT = (
    "peer.py: PyTorch is not installed for {python}: install it with "
    "`apt-get install -y python3-torch libopenblas0-pthread` (Debian) and run again "
    "(or point PEER_PYTHON at a Python that has torch)"
)

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print(INSTALL_HINT.format(python=sys.executable), file=sys.stderr)
    sys.exit(3)

# GPT-2's LayerNorm epsilon and init std, as in transformer.ts.
LN_EPS = 1e-5
INIT_STD = 0.02


class Block(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["nEmbd"]
        self.n_head = cfg["nHead"]
        self.ln_1 = torch.nn.LayerNorm(c, eps=LN_EPS)
        self.c_attn = torch.nn.Linear(c, 3 * c)
        self.attn_proj = torch.nn.Linear(c, c)
        self.ln_2 = torch.nn.LayerNorm(c, eps=LN_EPS)
        self.c_fc = torch.nn.Linear(c, 4 * c)
        self.mlp_proj = torch.nn.Linear(4 * c, c)

    def attention(self, x, cache, layer, at=None):
        # x (B, T, C) -> (B, T, C), or (N, C) at positions `at` of the B*T; cache holds
        # (B, H, past, hs) keys and values per layer.
        b, t, c = x.shape
        hs = c // self.n_head
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, hs).transpose(1, 2) for z in (q, k, v))  # (B, H, T, hs)
        if cache is not None:
            if layer in cache:
                pk, pv = cache[layer]
                k, v = torch.cat([pk, k], 2), torch.cat([pv, v], 2)
            cache[layer] = (k, v)
        tk = k.shape[2]
        scores = (q * (1.0 / math.sqrt(hs))) @ k.transpose(-2, -1)  # (B, H, T, Tk)
        if t > 1:
            # The last T of Tk positions: each sees every key up to its own position.
            allowed = torch.ones(t, tk, dtype=torch.bool).tril(tk - t)
            scores = scores.masked_fill(~allowed, float("-inf"))
        y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, c)  # (B, T, C)
        return self.attn_proj(y if at is None else y.reshape(b * t, c)[at])

    def forward(self, x, cache=None, layer=0, at=None):
        # With `at`, the output at those positions only (N, C), as src/model/transformer.ts's
        # last block when only some positions are read.
        res = x if at is None else x.reshape(-1, x.shape[-1])[at]
        x = res + self.attention(self.ln_1(x), cache, layer, at)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c = cfg["nEmbd"]
        self.wte = torch.nn.Embedding(cfg["vocabSize"], c)
        self.wpe = torch.nn.Embedding(cfg["contextLength"], c)
        self.blocks = torch.nn.ModuleList([Block(cfg) for _ in range(cfg["nLayer"])])
        self.ln_f = torch.nn.LayerNorm(c, eps=LN_EPS)
        self.value_head = torch.nn.Linear(c, 1)
        residual_std = INIT_STD / math.sqrt(2 * cfg["nLayer"])
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue  # LayerNorm gains stay 1, biases 0 (torch's defaults are reset below)
            torch.nn.init.normal_(p, std=residual_std if name.endswith("proj.weight") else INIT_STD)
        for m in self.modules():
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.zeros_(m.bias)

    def forward(self, ids, cache=None, past=0, at=None):
        # ids (B, T) -> logits (B, T, V), values (B, T); with `at` (N), indices into the B*T
        # positions, only those: logits (N, V), values (N) (GPT.forwardAt)
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe.weight[past : past + t]
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i, at if i == len(self.blocks) - 1 else None)
        h = self.ln_f(x)
        return h @ self.wte.weight.t(), self.value_head(h).squeeze(-1)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def batch_tensors(batch):
    """The runner's PPO minibatch: ids (B, T) and per-position rollout statistics (B, T-1)."""
    t = {k: torch.tensor(v, dtype=torch.float32) for k, v in batch.items() if k != "ids"}
    t["ids"] = torch.tensor(batch["ids"], dtype=torch.long)
    return t


def ppo_loss(model, t, hp):
    """src/learn/ppo.ts's loss: clipped surrogate over token log-probs + valueCoef * clipped value loss,
    means over the reply tokens, whose positions alone go through the LM head (nextTokenLogProbs)."""
    ids = t["ids"]
    b, width = ids.shape
    rows, cols = t["mask"].nonzero(as_tuple=True)  # the reply tokens' positions in (B, T-1)
    logits, values = model(ids, at=rows * width + cols)  # (N, V), (N)
    # Log-probability of each reply token and the value of its prefix: (N).
    logp = torch.log_softmax(logits, -1).gather(-1, ids[rows, cols + 1][:, None]).squeeze(-1)
    old_logp, adv, ret, old_values = (t[k][rows, cols] for k in ("oldLogp", "adv", "ret", "oldValues"))
    ratio = torch.exp(logp - old_logp)
    surrogate = torch.max(-adv * ratio, -adv * ratio.clamp(1 - hp["clipRange"], 1 + hp["clipRange"]))
    v_clipped = old_values + (values - old_values).clamp(-hp["clipRangeValue"], hp["clipRangeValue"])
    v_loss = 0.5 * torch.max((values - ret) ** 2, (v_clipped - ret) ** 2).mean()
    return surrogate.mean() + hp["valueCoef"] * v_loss


class Trainer:
    """A policy with its Adam optimiser, stepping on one fixed minibatch as src/learn/optim.ts does."""

    def __init__(self, req):
        torch.manual_seed(req["seed"])
        self.hp = req["hp"]
        self.model = GPT(req["config"])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.hp["lr"])
        self.batch = batch_tensors(req["batch"])

    def step_ms(self):
        start = time.perf_counter()
        loss = ppo_loss(self.model, self.batch, self.hp)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp["maxGradNorm"]).item()
        self.opt.step()
        loss.item()
        return (time.perf_counter() - start) * 1000


# Pairwise's parameter names (src/model/transformer.ts) -> this model's; its linear weights are (in, out).
def torch_name(name):
    parts = name.split(".")
    if parts[0] == "h":
        layer, rest = parts[1], ".".join(parts[2:])
        rest = {"attn.c_attn": "c_attn", "attn.c_proj": "attn_proj", "mlp.c_fc": "c_fc", "mlp.c_proj": "mlp_proj"}.get(rest[:-2], rest[:-2]) + rest[-2:]
        name = f"blocks.{layer}.{rest}"
    if name in ("wte", "wpe"):
        return name + ".weight"
    return name[:-2] + {".w": ".weight", ".b": ".bias", ".g": ".weight"}[name[-2:]]


def load_pairwise_weights(model, weights):
    """Copies the runner's raw float32 parameters (a file and a manifest) into the model."""
    raw = open(weights["path"], "rb").read()
    flat = torch.frombuffer(bytearray(raw), dtype=torch.float32)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for entry in weights["manifest"]:
            size = math.prod(entry["shape"])
            value = flat[entry["offset"] : entry["offset"] + size].view(entry["shape"])
            target = params.pop(torch_name(entry["name"]))
            target.copy_(value.t() if entry["name"].endswith(".w") else value)
    if params:
        raise ValueError(f"parameters the runner did not send: {sorted(params)}")


def check(req):
    """Logits, values and PPO loss of Pairwise's own weights on the runner's batch, for comparison."""
    model = GPT(req["config"])
    load_pairwise_weights(model, req["weights"])
    t = batch_tensors(req["batch"])
    with torch.no_grad():
        logits, values = model(t["ids"])
        loss = ppo_loss(model, t, req["hp"])
    return {"logits": logits.flatten().tolist(), "values": values.flatten().tolist(), "loss": loss.item()}


def sample_rows(logits, temperature, top_p, gen):
    """One token per row from softmax(logits / temperature) cut to its top-p nucleus: (B, V) -> (B)."""
    probs = torch.softmax(logits / temperature, -1)
    sorted_p, order = probs.sort(-1, descending=True)
    keep = sorted_p.cumsum(-1) - sorted_p < top_p  # the smallest prefix holding top_p
    sorted_p = sorted_p * keep
    picked = torch.multinomial(sorted_p, 1, generator=gen)
    return order.gather(-1, picked).squeeze(-1)


class Generator:
    def __init__(self, req):
        torch.manual_seed(req["seed"])
        self.model = GPT(req["config"]).eval()

    @torch.inference_mode()
    def generate_ms(self, req):
        gen = torch.Generator().manual_seed(req["seed"])
        v = self.model.cfg["vocabSize"]
        prompt = torch.randint(0, v, (1, req["promptTokens"]), generator=gen).expand(req["samples"], -1)
        start = time.perf_counter()
        cache, past, ids = {}, 0, prompt
        tokens, logprobs = [], []
        for _ in range(req["newTokens"]):
            logits, _values = self.model(ids, cache, past)
            past += ids.shape[1]
            last = logits[:, -1]  # (B, V)
            token = sample_rows(last, req["temperature"], req["topP"], gen)
            # The behaviour log-probability PPO stores, at temperature 1 (generate.ts does the same).
            logprobs.append(torch.log_softmax(last, -1).gather(-1, token[:, None]))
            tokens.append(token)
            ids = token[:, None]
        torch.stack(tokens, 1).tolist()
        torch.cat(logprobs, 1).tolist()
        return (time.perf_counter() - start) * 1000


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    trainers, generators = {}, {}
    key = lambda req: json.dumps(req["config"], sort_keys=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req["op"]
        if op == "hello":
            out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": sys.version.split()[0]}
        elif op == "params":
            out = {"params": count_params(GPT(req["config"]))}
        elif op == "check":
            out = check(req)
        elif op == "train":
            trainer = trainers.get(key(req)) or trainers.setdefault(key(req), Trainer(req))
            out = {"ms": trainer.step_ms()}
        elif op == "generate":
            generator = generators.get(key(req)) or generators.setdefault(key(req), Generator(req))
            out = {"ms": generator.generate_ms(req)}
        else:
            out = {"error": f"unknown op {op!r}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
