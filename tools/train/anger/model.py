"""The anger model, raw 8 kHz samples in, one logit out, as one torch module
that exports to one ONNX graph: the gateway feeds samples and cannot compute
features differently from training.

Front end (fixed weights): 32 ms Hann frames every 10 ms, as a Conv1d with
cos/sin DFT kernels for the 300-3400 Hz bins only; power; 40 mel bands; log;
then each band is normalised to zero mean and unit variance over the window,
so the caller's level, the line's gain and any fixed colouring of the
channel do not reach the classifier.

Classifier: a small 2-D CNN over the normalised (band x time) map, mean and
max pooled over time, dropout, one linear unit.
"""
import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 8000
WINDOW = 16000
FRAME = 256                 # 32 ms: resolves the harmonics of a low voice
FRAME_HOP = 80              # 10 ms
N_MELS = 40
BAND_HZ = (300.0, 3400.0)
POWER_FLOOR = 1e-6          # about the G.711 quantisation floor; keeps log() finite on digital silence
VARIANCE_FLOOR = 1e-3
FRAMES = (WINDOW - FRAME) // FRAME_HOP + 1


def dft_kernels():
    """Hann-windowed cos and -sin kernels for the DFT bins inside the band,
    [2 * bins, 1, FRAME], and the bins' frequencies."""
    bin_hz = SAMPLE_RATE / FRAME
    bins = np.arange(int(np.ceil(BAND_HZ[0] / bin_hz)), int(np.floor(BAND_HZ[1] / bin_hz)) + 1)
    n = np.arange(FRAME)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / FRAME)
    phase = 2 * np.pi * np.outer(bins, n) / FRAME
    kernels = np.concatenate([np.cos(phase) * hann, -np.sin(phase) * hann])
    return kernels[:, None, :].astype(np.float32), bins * bin_hz


def mel_matrix(freqs):
    """Triangular mel filters over the band, [N_MELS, bins], each with unit sum."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    edges = hz(np.linspace(mel(BAND_HZ[0]), mel(BAND_HZ[1]), N_MELS + 2))
    weights = np.zeros((N_MELS, len(freqs)))
    for m in range(N_MELS):
        lo, mid, hi = edges[m:m + 3]
        weights[m] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
        if weights[m].sum() == 0:       # a band narrower than one bin takes its nearest bin
            weights[m, np.argmin(np.abs(freqs - mid))] = 1.0
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


class FrontEnd(nn.Module):
    """audio [N, WINDOW] -> band-normalised log-mel [N, N_MELS, FRAMES]."""

    def __init__(self):
        super().__init__()
        kernels, freqs = dft_kernels()
        self.register_buffer("dft", torch.from_numpy(kernels))
        self.register_buffer("mel", torch.from_numpy(mel_matrix(freqs)))
        self.bins = len(freqs)

    def forward(self, audio):
        spectrum = nn.functional.conv1d(audio.unsqueeze(1), self.dft, stride=FRAME_HOP)
        real, imag = spectrum[:, :self.bins], spectrum[:, self.bins:]
        log_mel = torch.log(torch.matmul(self.mel, real * real + imag * imag) + POWER_FLOOR)
        centred = log_mel - log_mel.mean(dim=2, keepdim=True)
        return centred / torch.sqrt((centred * centred).mean(dim=2, keepdim=True) + VARIANCE_FLOOR)


def conv_block(channels_in, channels_out, pool):
    layers = [nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
              nn.BatchNorm2d(channels_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2)) if pool else nn.Sequential(*layers)


class Classifier(nn.Module):
    """Band-normalised log-mel [N, N_MELS, FRAMES] -> logit [N]."""

    def __init__(self, width=8, dropout=0.3):
        super().__init__()
        self.body = nn.Sequential(
            conv_block(1, width, pool=True),
            conv_block(width, 2 * width, pool=True),
            conv_block(2 * width, 4 * width, pool=True),
            conv_block(4 * width, 4 * width, pool=False),
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(8 * width, 1)

    def forward(self, features):
        maps = self.body(features.unsqueeze(1)).mean(dim=2)      # average over bands: [N, C, T]
        pooled = torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1)
        return self.out(self.dropout(pooled)).squeeze(1)


class AngerModel(nn.Module):
    """audio [N, 16000] in [-1, 1] -> anger_logit [N]."""

    def __init__(self, classifier):
        super().__init__()
        self.front = FrontEnd()
        self.classifier = classifier

    def forward(self, audio):
        return self.classifier(self.front(audio))
