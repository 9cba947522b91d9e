# k2l-eval: tier=3 features=gradient_tape,multi_output,functional,tf_ops,custom_loss,numpy_data imports=tf.keras builder=build_model
"""Advantage actor-critic update on a toy bandit: shared trunk, policy and value heads, tape."""
import numpy as np
import tensorflow as tf

N_STATE = 4
N_ACTIONS = 2
GAMMA = 0.99


def build_model(hidden=64):
    inputs = tf.keras.layers.Input(shape=(N_STATE,))
    common = tf.keras.layers.Dense(hidden, activation="relu")(inputs)
    action = tf.keras.layers.Dense(N_ACTIONS, activation="softmax")(common)
    critic = tf.keras.layers.Dense(1)(common)
    return tf.keras.Model(inputs=inputs, outputs=[action, critic])


def discounted_returns(rewards):
    out, running = [], 0.0
    for r in reversed(rewards):
        running = r + GAMMA * running
        out.insert(0, running)
    out = np.array(out, dtype="float32")
    return (out - out.mean()) / (out.std() + 1e-8)


def train_episode(model, optimizer, rng, steps=20):
    huber = tf.keras.losses.Huber()
    with tf.GradientTape() as tape:
        log_probs, values, rewards = [], [], []
        for _ in range(steps):
            state = tf.convert_to_tensor(rng.normal(size=(1, N_STATE)).astype("float32"))
            probs, value = model(state)
            a = int(rng.choice(N_ACTIONS, p=np.squeeze(probs.numpy())))
            log_probs.append(tf.math.log(probs[0, a]))
            values.append(value[0, 0])
            rewards.append(float(a == int(state.numpy()[0, 0] > 0)))
        returns = discounted_returns(rewards)
        actor_loss, critic_loss = 0.0, 0.0
        for log_prob, value, ret in zip(log_probs, values, returns):
            advantage = ret - tf.stop_gradient(value)
            actor_loss += -log_prob * advantage
            critic_loss += huber(tf.expand_dims(value, 0), tf.expand_dims(ret, 0))
        loss = actor_loss + critic_loss
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return sum(rewards)


if __name__ == "__main__":
    model = build_model()
    opt = tf.keras.optimizers.Adam(learning_rate=0.01)
    rng = np.random.default_rng(84)
    for episode in range(10):
        print(episode, train_episode(model, opt, rng))
