"""Reference network definitions used by the tests and examples.

Importing this package imports torch (``import pycx`` does not import it). The definitions are
written here (torchvision is optional) so that the layer algebra's findings can be checked on
known architectures: CIFAR ResNets and their PlainNet twins, ImageNet ResNets/PlainNets, VGG,
a DenseNet block and a symmetric linear autoencoder.
"""
from .blocks import DenseBlock, densenet_block, linear_autoencoder
from .highway import FC3, Highway  # noqa: F401  (paper 000, section 7)
from .resnet import cifar_resnet, imagenet_resnet
from .rbm import DBN, RBM, CollapsedLayerWarning
from .vgg import vgg

__all__ = ["DBN", "DenseBlock", "RBM", "cifar_resnet", "densenet_block", "imagenet_resnet", "linear_autoencoder",
           "vgg"]
__all__ += ["FC3", "Highway", "CollapsedLayerWarning"]
