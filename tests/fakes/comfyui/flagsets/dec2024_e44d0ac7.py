"""Test data: the argument parser of ComfyUI's comfy/cli_args.py at commit e44d0ac7 (December 2024, before --oneapi-device-selector),
with the same flags, types, defaults and mutually exclusive groups, and the help texts removed.
Generated from the upstream file with an ast transform; do not edit by hand."""

import argparse
import enum
import os
from typing import Optional
import comfy.options

class EnumAction(argparse.Action):

    def __init__(self, **kwargs):
        enum_type = kwargs.pop('type', None)
        if enum_type is None:
            raise ValueError('type must be assigned an Enum when using EnumAction')
        if not issubclass(enum_type, enum.Enum):
            raise TypeError('type must be an Enum when using EnumAction')
        choices = tuple((e.value for e in enum_type))
        kwargs.setdefault('choices', choices)
        kwargs.setdefault('metavar', f"[{','.join(list(choices))}]")
        super(EnumAction, self).__init__(**kwargs)
        self._enum = enum_type

    def __call__(self, parser, namespace, values, option_string=None):
        value = self._enum(values)
        setattr(namespace, self.dest, value)
parser = argparse.ArgumentParser()
parser.add_argument('--listen', type=str, default='127.0.0.1', metavar='IP', nargs='?', const='0.0.0.0,::')
parser.add_argument('--port', type=int, default=8188)
parser.add_argument('--tls-keyfile', type=str)
parser.add_argument('--tls-certfile', type=str)
parser.add_argument('--enable-cors-header', type=str, default=None, metavar='ORIGIN', nargs='?', const='*')
parser.add_argument('--max-upload-size', type=float, default=100)
parser.add_argument('--extra-model-paths-config', type=str, default=None, metavar='PATH', nargs='+', action='append')
parser.add_argument('--output-directory', type=str, default=None)
parser.add_argument('--temp-directory', type=str, default=None)
parser.add_argument('--input-directory', type=str, default=None)
parser.add_argument('--auto-launch', action='store_true')
parser.add_argument('--disable-auto-launch', action='store_true')
parser.add_argument('--cuda-device', type=int, default=None, metavar='DEVICE_ID')
cm_group = parser.add_mutually_exclusive_group()
cm_group.add_argument('--cuda-malloc', action='store_true')
cm_group.add_argument('--disable-cuda-malloc', action='store_true')
fp_group = parser.add_mutually_exclusive_group()
fp_group.add_argument('--force-fp32', action='store_true')
fp_group.add_argument('--force-fp16', action='store_true')
fpunet_group = parser.add_mutually_exclusive_group()
fpunet_group.add_argument('--fp32-unet', action='store_true')
fpunet_group.add_argument('--fp64-unet', action='store_true')
fpunet_group.add_argument('--bf16-unet', action='store_true')
fpunet_group.add_argument('--fp16-unet', action='store_true')
fpunet_group.add_argument('--fp8_e4m3fn-unet', action='store_true')
fpunet_group.add_argument('--fp8_e5m2-unet', action='store_true')
fpvae_group = parser.add_mutually_exclusive_group()
fpvae_group.add_argument('--fp16-vae', action='store_true')
fpvae_group.add_argument('--fp32-vae', action='store_true')
fpvae_group.add_argument('--bf16-vae', action='store_true')
parser.add_argument('--cpu-vae', action='store_true')
fpte_group = parser.add_mutually_exclusive_group()
fpte_group.add_argument('--fp8_e4m3fn-text-enc', action='store_true')
fpte_group.add_argument('--fp8_e5m2-text-enc', action='store_true')
fpte_group.add_argument('--fp16-text-enc', action='store_true')
fpte_group.add_argument('--fp32-text-enc', action='store_true')
parser.add_argument('--force-channels-last', action='store_true')
parser.add_argument('--directml', type=int, nargs='?', metavar='DIRECTML_DEVICE', const=-1)
parser.add_argument('--disable-ipex-optimize', action='store_true')

class LatentPreviewMethod(enum.Enum):
    NoPreviews = 'none'
    Auto = 'auto'
    Latent2RGB = 'latent2rgb'
    TAESD = 'taesd'
parser.add_argument('--preview-method', type=LatentPreviewMethod, default=LatentPreviewMethod.NoPreviews, action=EnumAction)
parser.add_argument('--preview-size', type=int, default=512)
cache_group = parser.add_mutually_exclusive_group()
cache_group.add_argument('--cache-classic', action='store_true')
cache_group.add_argument('--cache-lru', type=int, default=0)
attn_group = parser.add_mutually_exclusive_group()
attn_group.add_argument('--use-split-cross-attention', action='store_true')
attn_group.add_argument('--use-quad-cross-attention', action='store_true')
attn_group.add_argument('--use-pytorch-cross-attention', action='store_true')
attn_group.add_argument('--use-sage-attention', action='store_true')
parser.add_argument('--disable-xformers', action='store_true')
upcast = parser.add_mutually_exclusive_group()
upcast.add_argument('--force-upcast-attention', action='store_true')
upcast.add_argument('--dont-upcast-attention', action='store_true')
vram_group = parser.add_mutually_exclusive_group()
vram_group.add_argument('--gpu-only', action='store_true')
vram_group.add_argument('--highvram', action='store_true')
vram_group.add_argument('--normalvram', action='store_true')
vram_group.add_argument('--lowvram', action='store_true')
vram_group.add_argument('--novram', action='store_true')
vram_group.add_argument('--cpu', action='store_true')
parser.add_argument('--reserve-vram', type=float, default=None)
parser.add_argument('--default-hashing-function', type=str, choices=['md5', 'sha1', 'sha256', 'sha512'], default='sha256')
parser.add_argument('--disable-smart-memory', action='store_true')
parser.add_argument('--deterministic', action='store_true')
parser.add_argument('--fast', action='store_true')
parser.add_argument('--dont-print-server', action='store_true')
parser.add_argument('--quick-test-for-ci', action='store_true')
parser.add_argument('--windows-standalone-build', action='store_true')
parser.add_argument('--disable-metadata', action='store_true')
parser.add_argument('--disable-all-custom-nodes', action='store_true')
parser.add_argument('--multi-user', action='store_true')
parser.add_argument('--verbose', default='INFO', const='DEBUG', nargs='?', choices=['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'])
DEFAULT_VERSION_STRING = 'comfyanonymous/ComfyUI@latest'
parser.add_argument('--front-end-version', type=str, default=DEFAULT_VERSION_STRING)

def is_valid_directory(path: Optional[str]) -> Optional[str]:
    if path is None:
        return None
    if not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f'{path} is not a valid directory.')
    return path
parser.add_argument('--front-end-root', type=is_valid_directory, default=None)
parser.add_argument('--user-directory', type=is_valid_directory, default=None)
if comfy.options.args_parsing:
    args = parser.parse_args()
else:
    args = parser.parse_args([])
if args.windows_standalone_build:
    args.auto_launch = True
if args.disable_auto_launch:
    args.auto_launch = False
