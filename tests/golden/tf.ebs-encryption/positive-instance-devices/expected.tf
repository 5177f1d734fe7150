resource "aws_instance" "web" {
  ami = "ami-123"
  root_block_device {
    volume_size = 20
    encrypted   = true
  }
  ebs_block_device {
    device_name = "/dev/sdb"
    encrypted   = true
  }
}
