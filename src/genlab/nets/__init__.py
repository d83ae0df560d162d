"""Plain nn.Modules (no Lightning): DCGAN, conv VAE, ResNet generator, PatchGAN, PixelRNN."""
