"""The federation's services: province node, ministry hub, directory and complaints supervision."""
