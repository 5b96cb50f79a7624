"""The classifier (a small 1-D CNN over the front end's log-mel frames),
its training in torch, and its weights in the form the ONNX graph takes."""
import sys
import time

import numpy as np
import torch
from torch import nn

# (output channels, kernel, stride) per convolution: 98 frames -> 13, a
# receptive field of about 0.6 s, and the mean and max over time after it.
LAYERS = [(64, 3, 1), (96, 5, 2), (128, 5, 2), (160, 5, 2), (192, 3, 1)]
EPOCHS = 24
ENSEMBLE_SEEDS = (7, 8)      # one network per seed and recipe: the teachers
# The shipped detector is one network of the same form trained to give the
# teachers' mean P as well as the labels (distillation): it runs on every
# window of every call, and one network costs a quarter of four.
DISTIL_SEED = 10
DISTIL_TEMPERATURE = 2.0
DISTIL_WEIGHT = 0.7          # of the loss: matching the teachers; the rest is the labels' cross-entropy
BATCH = 128
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-3


class KeywordNet(nn.Module):
    def __init__(self, n_mels, n_classes):
        super().__init__()
        blocks, channels = [], n_mels
        for out, kernel, stride in LAYERS:
            blocks.append(nn.Sequential(nn.Conv1d(channels, out, kernel, stride, padding=kernel // 2, bias=False),
                                        nn.BatchNorm1d(out), nn.ReLU()))
            channels = out
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(2 * channels, n_classes)

    def forward(self, x):
        h = self.blocks(x)
        return self.head(self.dropout(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)))


def warp_mel(x, generator, spread=0.1):
    """Vocal-tract length perturbation on the mel axis: stretch or squeeze
    the bands by a random factor per example (formants move, pitch does not)."""
    batch, bands, _ = x.shape
    factor = 1 + (torch.rand(batch, 1, generator=generator) * 2 - 1) * spread
    position = (torch.arange(bands).float()[None, :] * factor).clamp(0, bands - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=bands - 1)
    weight = (position - low.float())[:, :, None]
    gather = lambda index: torch.gather(x, 1, index[:, :, None].expand(-1, -1, x.shape[2]))
    return gather(low) * (1 - weight) + gather(high) * weight


def spec_augment(x, generator, max_bands=6, max_frames=12):
    """One band mask and one time mask per example (set to the band mean, 0)."""
    batch, bands, frames = x.shape
    x = x.clone()
    for i in range(batch):
        width = int(torch.randint(0, max_bands + 1, (1,), generator=generator))
        start = int(torch.randint(0, bands - width + 1, (1,), generator=generator))
        x[i, start:start + width, :] = 0
        width = int(torch.randint(0, max_frames + 1, (1,), generator=generator))
        start = int(torch.randint(0, frames - width + 1, (1,), generator=generator))
        x[i, :, start:start + width] = 0
    return x


def train(features, labels, n_classes, seed, epochs=EPOCHS, teacher=None):
    """Fixed seeds, fixed epochs (no early stopping on held-out data).
    `teacher`: logits [n, n_classes] of the windows (the teachers' mean on
    the clean features) to match as well, at DISTIL_TEMPERATURE."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = KeywordNet(features.shape[1], n_classes)
    optimiser = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps = epochs * (len(features) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=steps)
    x_all = torch.from_numpy(features)
    y_all = torch.from_numpy(labels.astype(np.int64))
    soft_all = None if teacher is None else torch.softmax(torch.from_numpy(teacher).float() / DISTIL_TEMPERATURE, 1)
    loss_fn = nn.CrossEntropyLoss()
    started = time.time()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(features), generator=generator)
        total, correct, seen = 0.0, 0, 0
        for step in range(len(features) // BATCH):
            index = order[step * BATCH:(step + 1) * BATCH]
            x = spec_augment(warp_mel(x_all[index].float(), generator), generator)
            y = y_all[index]
            logits = net(x)
            loss = loss_fn(logits, y)
            if soft_all is not None:
                loss = (1 - DISTIL_WEIGHT) * loss + DISTIL_WEIGHT * distillation_loss(logits, soft_all[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / seen:.3f}, training accuracy {correct / seen:.3f}, "
              f"{time.time() - started:.0f} s", file=sys.stderr)
    return net.eval()


def distillation_loss(logits, soft_targets):
    """KL divergence from the teachers' P at the distillation temperature,
    scaled by its square so that its gradients weigh as the labels' do."""
    log_p = torch.log_softmax(logits / DISTIL_TEMPERATURE, 1)
    return nn.functional.kl_div(log_p, soft_targets, reduction="batchmean") * DISTIL_TEMPERATURE ** 2


def folded_logits(network, features, batch=1024):
    """Logits of a folded network (layers, head weight, head bias: as
    folded_layers gives them) on features [n, N_MELS, FRAMES]."""
    layers, head_weight, head_bias = network
    out = []
    with torch.no_grad():
        for start in range(0, len(features), batch):
            h = torch.from_numpy(features[start:start + batch]).float()
            for weight, bias, stride in layers:
                h = torch.relu(nn.functional.conv1d(h, torch.tensor(weight), torch.tensor(bias),
                                                    stride=stride, padding=weight.shape[-1] // 2))
            pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
            out.append((pooled @ torch.tensor(head_weight).T + torch.tensor(head_bias)).numpy())
    return np.concatenate(out)


def folded_layers(net):
    """(weight, bias, stride) per convolution with its batch norm folded in,
    and the head's weight and bias, as numpy arrays."""
    layers = []
    for block, (_, _, stride) in zip(net.blocks, LAYERS):
        conv, norm = block[0], block[1]
        scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
        weight = conv.weight.detach() * scale[:, None, None]
        bias = norm.bias.detach() - norm.running_mean * scale
        layers.append((weight.numpy(), bias.numpy(), stride))
    return layers, net.head.weight.detach().numpy(), net.head.bias.detach().numpy()


def logits(net, features, batch=1024):
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(features[i:i + batch]).float()).numpy()
                               for i in range(0, len(features), batch)])
