"""Qwen2-VL fine-tuning: training data (`data`), a tiny offline model (`tiny`), the trainer (`trainer`)."""
