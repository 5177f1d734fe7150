resource "aws_instance" "web" {
  ami = "ami-123"   # the image
  root_block_device {
      volume_size = 20   # odd indent
      encrypted   = true
  }
  /* extra disk */
  ebs_block_device {
    device_name = "/dev/sdb" // data
    encrypted   =   true    // was off
  }
}
