"""How to load and use each kind of gen_core model: the ``Use`` snippet of every model card, whether the CLI
wrote it (``python -m gen_core train``) or a dashboard tab exported a live run (:func:`gen_core.cards.export_live_run`).

Each snippet is a ``str.format`` template with one field, ``{path}``: the folder or Hub repo id to load.
"""

USAGE: dict[str, str] = {
    "vae": 'from gen_core.models import load_pretrained\n'
           'vae = load_pretrained("{path}")\n'
           'mu, logvar = vae.encode(images)   # images: (B, 1, 28, 28) in [0, 1]\n'
           'x = vae.decode(mu)                 # mean images in [0, 1]\n'
           'samples = vae.sample(16)',
    "dsprites": 'from gen_core.models import load_pretrained\n'
                'vae = load_pretrained("{path}")\n'
                'mu, logvar = vae.encode(images)   # images: (B, 1, 64, 64) binary dSprites\n'
                'x = vae.decode(mu)                 # mean images in [0, 1]; mu is the code the metrics score',
    "autoencoder": 'from gen_core.models import load_pretrained\n'
                   'ae = load_pretrained("{path}")\n'
                   'scores = ae.anomaly_score(images)  # ||x - D(E(x))||^2 per image',
    "flow": 'from gen_core.models import load_pretrained\n'
            'flow = load_pretrained("{path}")\n'
            'x = flow.sample(1000)        # (1000, dim) samples x = f^-1(z), z ~ N(0, I)\n'
            'log_p = flow.log_prob(x)     # exact log-density in nats (change of variables)',
    "gan": 'from gen_core.models import load_pretrained\n'
           'gan = load_pretrained("{path}")\n'
           'x = gan.sample(2500)          # (2500, 2) points x = G(z), z ~ N(0, I)\n'
           'd = gan.critic(x)             # (2500,) critic scores',
    "dcgan": 'from gen_core.models import load_pretrained\n'
             'gan = load_pretrained("{path}")\n'
             'images = gan.sample(16)       # (16, 1, 28, 28) in [0, 1] (a conditional model cycles the classes)',
    "classifier": 'from gen_core.models import load_pretrained\n'
                  'clf = load_pretrained("{path}")\n'
                  'labels = clf.predict(images) # images: (B, 1, 28, 28) in [0, 1]\n'
                  'feats = clf.features(images) # (B, 256): the features of FID-FMNIST',
    "cvae": 'from gen_core.models import load_pretrained\n'
            'cvae = load_pretrained("{path}")\n'
            'x = cvae.sample(16, y=7)                 # 16 sneakers (class 7)\n'
            'grid = cvae.decode_all_classes(z)        # one style code z (D,) under all 10 classes',
    "vqvae": 'from gen_core.models import load_pretrained\n'
             'vq = load_pretrained("{path}")\n'
             'codes = vq.encode(images)                # (B, 7, 7) indices into the 512-entry codebook\n'
             'recon = vq.decode_indices(codes)         # (B, 1, 28, 28) mean images',
    "dvae": 'from gen_core.models import load_pretrained\n'
            'dvae = load_pretrained("{path}")\n'
            'logits = dvae.encode(images)             # (B, N, K) logits of the categorical posterior\n'
            'z = dvae.sample_latents(logits, tau=0.5)  # Gumbel-softmax points on the simplex',
    "flow_prior_vae": 'from gen_core.models import load_pretrained\n'
                      'vae = load_pretrained("{path}")\n'
                      "log_pz = vae.prior_log_prob(z)           # the flow prior's exact log-density\n"
                      'x = vae.sample(16)                       # z = f^-1(z*), z* ~ N(0, I), decoded',
    "avb": 'from gen_core.models import load_pretrained\n'
           'avb = load_pretrained("{path}")\n'
           'mu, logvar = avb.encode(x)               # x: (B, 1, 28, 28) binary images; q(z|x) = N(mu, exp(logvar))\n'
           "kl_estimate = avb.critic(x, mu + (0.5 * logvar).exp() * torch.randn_like(mu))  # T(x, z): AVB's KL\n"
           'samples = avb.sample(16)                 # decoded prior draws',
    "cyclegan": 'from gen_core.models import load_pretrained\n'
                'cg = load_pretrained("{path}")\n'
                'y = cg.translate(x, "a2b")            # x: (B, 1, 28, 28) in [0, 1], domain A -> B\n'
                'y, x_back = cg.round_trip(x, "a2b")   # G(x) and F(G(x))',
    "bigan2d": 'from gen_core.models import load_pretrained\n'
               'bigan = load_pretrained("{path}")\n'
               'x = bigan.sample(1000)                  # (1000, 2) points G(z), z ~ N(0, I)\n'
               'z = bigan.encode(points)                # the encoder E: (N, 2) points -> (N, latent_dim) codes\n'
               'x_rec = bigan.generate(z)               # G(E(x)): a BiGAN inverts only through training',
    "cyclegan2d": 'from gen_core.models import load_pretrained\n'
                  'cg = load_pretrained("{path}")\n'
                  'y = cg.translate(points, "a2b")        # points: (N, 2) near the ring of 8 -> the 3 x 3 grid\n'
                  'x_back = cg.translate(y, "b2a")        # the round trip F(G(x))',
}


def usage(kind: str, path: str) -> str:
    """The ``Use`` snippet of a model of ``kind`` (a key of :data:`USAGE`) loaded from ``path``."""
    if kind not in USAGE:
        raise KeyError(f"no usage snippet for model kind {kind!r}; known kinds: {', '.join(sorted(USAGE))}")
    return USAGE[kind].format(path=path)
