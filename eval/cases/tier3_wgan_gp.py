# k2l-eval: tier=3 features=gan,gradient_tape,custom_train_step,subclassed,tf_ops,fit,numpy_data imports=tf.keras builder=build_critic
"""WGAN-GP on 2-D points: critic, generator and a gradient penalty with nested tapes."""
import numpy as np
import tensorflow as tf

NOISE = 8


def build_critic():
    inputs = tf.keras.Input(shape=(2,))
    x = tf.keras.layers.Dense(64)(inputs)
    x = tf.keras.layers.LeakyReLU(0.2)(x)
    x = tf.keras.layers.Dense(64)(x)
    x = tf.keras.layers.LeakyReLU(0.2)(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(1)(x), name="critic")


def build_generator():
    return tf.keras.Sequential([
        tf.keras.Input(shape=(NOISE,)),
        tf.keras.layers.Dense(64, activation="relu"),
        tf.keras.layers.Dense(64, activation="relu"),
        tf.keras.layers.Dense(2),
    ], name="generator")


class WGANGP(tf.keras.Model):
    def __init__(self, critic, generator, gp_weight=10.0, critic_steps=3):
        super().__init__()
        self.critic = critic
        self.generator = generator
        self.gp_weight = gp_weight
        self.critic_steps = critic_steps

    def compile(self, c_optimizer, g_optimizer):
        super().compile()
        self.c_optimizer = c_optimizer
        self.g_optimizer = g_optimizer

    def gradient_penalty(self, real, fake):
        alpha = tf.random.uniform([tf.shape(real)[0], 1], 0.0, 1.0)
        interpolated = real + alpha * (fake - real)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.critic(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1]))
        return tf.reduce_mean((norm - 1.0) ** 2)

    def train_step(self, real):
        batch = tf.shape(real)[0]
        for _ in range(self.critic_steps):
            z = tf.random.normal((batch, NOISE))
            with tf.GradientTape() as tape:
                fake = self.generator(z, training=True)
                c_loss = tf.reduce_mean(self.critic(fake)) - tf.reduce_mean(self.critic(real))
                c_loss += self.gp_weight * self.gradient_penalty(real, fake)
            grads = tape.gradient(c_loss, self.critic.trainable_variables)
            self.c_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        z = tf.random.normal((batch, NOISE))
        with tf.GradientTape() as tape:
            g_loss = -tf.reduce_mean(self.critic(self.generator(z, training=True)))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return {"c_loss": c_loss, "g_loss": g_loss}


if __name__ == "__main__":
    rng = np.random.default_rng(76)
    theta = rng.uniform(0, 2 * np.pi, 2048)
    ring = np.stack([np.cos(theta), np.sin(theta)], 1).astype("float32")
    wgan = WGANGP(build_critic(), build_generator())
    wgan.compile(tf.keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9),
                 tf.keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9))
    wgan.fit(ring, batch_size=128, epochs=2)
